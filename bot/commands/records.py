"""The typed records the grammar turns a command's text into (one per subcommand that has one).

A command or subcommand declares its record in ``bot.commands.spec`` (``record=``); one that
declares none gets the plain mapping of its argument values (``Args``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final, Literal

from bot.commands.args import Token
from bot.commands.options import OptionChange

DEFAULT_NEWS: Final = 5


class Args(dict[str, Any]):
    """The argument values of a command that declares no record: ``{arg name: parsed value}``
    (an optional argument not given is absent)."""


@dataclass(frozen=True, slots=True)
class QuoteCmd:
    symbols: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NewsCmd:
    symbol: str
    count: int = DEFAULT_NEWS
    asked: int | None = None  # set when the asked count was clamped


@dataclass(frozen=True, slots=True)
class HelpCmd:
    topic: str | None = None  # a /watch subcommand, "quote" or "news"


@dataclass(frozen=True, slots=True)
class ListCmd:
    contains: str | None = None  # only names containing this (case-insensitive)


@dataclass(frozen=True, slots=True)
class ShowCmd:
    name: str


@dataclass(frozen=True, slots=True)
class EditCmd:
    """create, add or remove: ``items`` are the raw item tokens (classified by the handler)."""

    action: Literal["create", "add", "remove"]
    name: str
    items: tuple[Token, ...]


@dataclass(frozen=True, slots=True)
class DeleteCmd:
    name: str


@dataclass(frozen=True, slots=True)
class QueryCmd:
    name: str
    query: str


@dataclass(frozen=True, slots=True)
class SubscribeCmd:
    name: str
    options: tuple[OptionChange, ...] = ()  # empty: leave as they are (defaults when new)


@dataclass(frozen=True, slots=True)
class OptionsCmd:
    """``/watch options NAME [changes]``: show (no changes) or change a subscription's options."""

    name: str
    options: tuple[OptionChange, ...] = ()


@dataclass(frozen=True, slots=True)
class UnsubscribeCmd:
    name: str


@dataclass(frozen=True, slots=True)
class SubscriptionsCmd:
    pass


@dataclass(frozen=True, slots=True)
class MuteCmd:
    duration: timedelta
    name: str | None = None


@dataclass(frozen=True, slots=True)
class UnmuteCmd:
    name: str | None = None


@dataclass(frozen=True, slots=True)
class TestCmd:
    name: str


@dataclass(frozen=True, slots=True)
class StatusCmd:
    """``/watch status``: feeds, subscriptions, last alerts and the queue, in one message."""


@dataclass(frozen=True, slots=True)
class FeedAddCmd:
    url: str
    interval: timedelta | None = None  # None: the configured minimum
    name: str | None = None  # None: the feed's own title


@dataclass(frozen=True, slots=True)
class FeedListCmd:
    pass


@dataclass(frozen=True, slots=True)
class FeedRemoveCmd:
    name: str


@dataclass(frozen=True, slots=True)
class FeedTestCmd:
    url: str


@dataclass(frozen=True, slots=True)
class FeedHelpCmd:
    topic: str | None = None


Command = (
    QuoteCmd
    | NewsCmd
    | HelpCmd
    | ListCmd
    | ShowCmd
    | EditCmd
    | DeleteCmd
    | QueryCmd
    | SubscribeCmd
    | OptionsCmd
    | UnsubscribeCmd
    | SubscriptionsCmd
    | MuteCmd
    | UnmuteCmd
    | TestCmd
    | StatusCmd
    | FeedAddCmd
    | FeedListCmd
    | FeedRemoveCmd
    | FeedTestCmd
    | FeedHelpCmd
)
FeedCmd = FeedAddCmd | FeedListCmd | FeedRemoveCmd | FeedTestCmd | FeedHelpCmd  # /feed's subcommands

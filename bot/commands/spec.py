"""The slash commands, declared once: names, subcommands, arguments, descriptions, who may use
them, autocomplete, and which are slow.

Everything that lists the commands is derived from ``COMMANDS``: the Discord command tree
(``bot.chat.discord_bot.commands``), the Slack slash commands (the adapter's listeners and
``slack_manifest_commands``, which ``config/slack-app-manifest.yaml`` must equal), the
subcommands the grammar and help of /watch and /feed know (``WATCH_SUBCOMMANDS``,
``FEED_SUBCOMMANDS``), and Discord's default and runtime permission checks.
tests/contract/test_command_spec.py checks that they agree.

Adding a command is one ``CommandSpec`` here plus its handler (grammar + ``CommandService``);
see docs/architecture.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from bot.ports import CommandName, CompleteKind

ArgKind = Literal["text", "int", "bool"]


@dataclass(frozen=True, slots=True)
class Arg:
    """One argument of a command (a Discord option; a word or two of the Slack text).

    ``low``/``high`` bound a text's length or an int's value. ``named`` arguments are written
    ``NAME VALUE`` in the command text (the options of /watch subscribe); the others are written
    as their value, in the order declared. ``complete`` offers autocomplete of that kind
    (``last_word``: of the last word of a space-separated list). ``zero`` is how an int 0 is
    written and ``suffix`` follows any other int (``max 10/h``, ``max off``).
    """

    name: str
    description: str
    kind: ArgKind = "text"
    required: bool = True
    low: int | None = None
    high: int | None = None
    named: bool = False
    complete: CompleteKind | None = None
    last_word: bool = False
    choices: tuple[tuple[str, str], ...] = ()  # (label, value)
    suffix: str = ""
    zero: str | None = None

    def words(self, value: Any) -> list[str]:
        """How ``value`` is written in the command text the handler parses (nothing when unset)."""
        if value is None:
            return []
        if self.kind == "bool":
            text = "on" if value else "off"
        elif self.kind == "int":
            text = self.zero if value == 0 and self.zero is not None else f"{value}{self.suffix}"
        else:
            text = str(value)
        if not text:
            return []
        return [self.name, text] if self.named else [text]


@dataclass(frozen=True, slots=True)
class Sub:
    """A subcommand. ``manage``: changes state, so Discord checks Manage Channels before it runs;
    ``slow``: acknowledged at once; ``private``: its answer is private (a defer is too)."""

    name: str
    description: str
    args: tuple[Arg, ...] = ()
    manage: bool = False
    slow: bool = False
    private: bool = False


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """A slash command: either its own ``args`` or ``subcommands``.

    ``description`` is Discord's (at most 100 characters); ``summary`` and ``usage_hint`` are
    the Slack manifest's. ``managers_only``: Discord shows it by default only to members with
    Manage Channels, and only in servers (a server admin can widen who sees it).
    ``admins_only``: the same with Manage Server; its handlers let only admins use it (Slack
    workspace admins and owners, the configured admins, Discord members with Manage Server).
    ``private``: every answer is private (a defer is too).
    """

    name: CommandName
    description: str
    summary: str
    usage_hint: str
    args: tuple[Arg, ...] = ()
    subcommands: tuple[Sub, ...] = ()
    slow: bool = False
    managers_only: bool = False
    admins_only: bool = False
    private: bool = False

    def sub(self, name: str) -> Sub | None:
        return next((s for s in self.subcommands if s.name == name), None)

    def text(self, sub: str | None, values: Mapping[str, Any]) -> str:
        """The command text (what a Slack user types after /name) for Discord's typed options."""
        args = self.args if sub is None else self._require_sub(sub).args
        words = [sub] if sub else []
        for arg in args:
            words += arg.words(values.get(arg.name))
        return " ".join(words)

    def is_slow(self, text: str) -> bool:
        """Whether this call waits on quotes, charts or a scan of stories (defer at once)."""
        if not self.subcommands:
            return self.slow
        found = self.sub(text.split(" ", 1)[0])
        return found is not None and found.slow

    def is_private(self, text: str) -> bool:
        """Whether the answer to this call is private whatever happens (help, /feed)."""
        if self.private:
            return True
        found = self.sub(text.split(" ", 1)[0]) if self.subcommands else None
        return found is not None and found.private

    def _require_sub(self, name: str) -> Sub:
        found = self.sub(name)
        if found is None:
            raise KeyError(f"/{self.name} has no subcommand {name!r}")
        return found


# ---------------------------------------------------------------- the commands

WATCHLIST_NAME_MAX: Final = 32
LIST_FILTER_MAX: Final = 100
_NAME = Arg("name", "The watchlist", low=1, high=WATCHLIST_NAME_MAX, complete="watchlist")
_ITEMS = Arg("items", 'Tickers and keywords, e.g. $NVDA AMD cloud "export control" chip*')
_OPTIONAL_NAME = dataclasses.replace(_NAME, description="Only this watchlist (default: all)", required=False)
_OPTIONS: Final = (
    Arg(
        "quiet",
        "Hold alerts in this window, e.g. 22:00-06:00 (off: none)",
        required=False,
        low=1,
        high=60,
        named=True,
    ),
    Arg(
        "max",
        "At most this many alerts an hour (0: no cap)",
        kind="int",
        required=False,
        low=0,
        high=3600,
        named=True,
        suffix="/h",
        zero="off",
    ),
    Arg(
        "min-move",
        "Move alerts from this size, e.g. 2% (off: any)",
        required=False,
        low=1,
        high=60,
        named=True,
    ),
    Arg(
        "sessions",
        "Only in these sessions, e.g. pre-market,regular (all: every session)",
        required=False,
        low=1,
        high=60,
        named=True,
        complete="session",
    ),
    Arg("threads", "Follow-ups in a thread under the alert", kind="bool", required=False, named=True),
    Arg(
        "briefing",
        "The pre-market briefing on trading days",
        required=False,
        named=True,
        choices=(("pre-market briefing on trading days", "premarket"), ("off", "off")),
    ),
)

QUOTE = CommandSpec(
    name="quote",
    description="Price, change and session; a chart for one ticker",
    summary="Price, change and session for tickers, with the latest headlines",
    usage_hint="AMZN [MSFT ...]",
    args=(
        Arg(
            "tickers",
            "One or more tickers, e.g. NVDA or AMZN MSFT",
            low=1,
            high=200,
            complete="ticker",
            last_word=True,
        ),
    ),
    slow=True,
)

NEWS = CommandSpec(
    name="news",
    description="The latest stories that mention a ticker",
    summary="The latest stories that mention a ticker",
    usage_hint="AMZN [N]",
    args=(
        Arg("ticker", "A ticker, e.g. AMZN", low=1, high=20, complete="ticker"),
        Arg("count", "How many stories (default 5, at most 20)", kind="int", required=False, low=1, high=20),
    ),
    slow=True,
)

_WATCH_SUBS: Final = (
    Sub(
        "list",
        "Watchlists you can subscribe to here",
        (Arg("contains", "Only names containing this text", required=False, high=LIST_FILTER_MAX),),
    ),
    Sub("show", "A watchlist's tickers, keywords, query and subscribed channels", (_NAME,)),
    Sub(
        "create",
        "Create a watchlist of tickers and keywords",
        (
            dataclasses.replace(
                _NAME,
                description="A name: letters, digits, - and _ (e.g. cloud-china)",
                complete=None,
            ),
            _ITEMS,
        ),
        manage=True,
    ),
    Sub("add", "Add tickers or keywords to a watchlist", (_NAME, _ITEMS), manage=True),
    Sub(
        "remove",
        "Remove tickers or keywords from a watchlist",
        (_NAME, dataclasses.replace(_ITEMS, description="What to remove, as it was added")),
        manage=True,
    ),
    Sub("delete", "Delete a watchlist made in chat", (_NAME,), manage=True),
    Sub(
        "query",
        "Set a watchlist's boolean query",
        (_NAME, Arg("query", "e.g. ($AMZN OR $MSFT) AND cloud AND NOT layoffs")),
        manage=True,
    ),
    Sub("subscribe", "Post this watchlist's alerts in this channel", (_NAME, *_OPTIONS), manage=True),
    # looking is for everyone; the handler refuses changes without Manage Channels
    Sub("options", "Show or change this channel's options for a watchlist", (_NAME, *_OPTIONS)),
    Sub("unsubscribe", "Stop this watchlist's alerts in this channel", (_NAME,), manage=True),
    Sub("subscriptions", "This channel's subscriptions"),
    Sub(
        "mute",
        "Pause alerts in this channel for a while",
        (Arg("duration", "e.g. 30m, 2h or 1d", low=1, high=20), _OPTIONAL_NAME),
        manage=True,
    ),
    Sub("unmute", "Resume alerts in this channel", (_OPTIONAL_NAME,), manage=True),
    Sub("test", "Which stories of the last 24 hours would have matched, and why", (_NAME,), slow=True),
    Sub(
        "status",
        "Feeds with health, subscriptions, last alerts and the queue here",
        slow=True,
        private=True,
    ),
)

# the commands without subcommands: /watch help explains them too (a new one goes here)
SINGLE: Final[tuple[CommandSpec, ...]] = (QUOTE, NEWS)
SINGLE_NAMES: Final[tuple[str, ...]] = tuple(c.name for c in SINGLE)

WATCH_SUBCOMMANDS: Final = (*(s.name for s in _WATCH_SUBS), "help")
# /watch help feed explains /feed (as /feed help does)
_HELP_TOPICS: Final = (*(s.name for s in _WATCH_SUBS), *SINGLE_NAMES, "feed")

WATCH = CommandSpec(
    name="watch",
    description="Watchlists and this channel's subscriptions",
    summary="Watchlists and this channel's alert subscriptions",
    usage_hint="help | list | status | show NAME | subscribe NAME | create NAME ITEMS... | test NAME",
    subcommands=(
        *_WATCH_SUBS,
        Sub(
            "help",
            "How to use /watch",
            (
                Arg(
                    "topic",
                    "A subcommand to explain",
                    required=False,
                    choices=tuple((t, t) for t in _HELP_TOPICS),
                ),
            ),
            private=True,
        ),
    ),
    managers_only=True,
)

FEED_NAME_MAX: Final = 64
FEED_URL_MAX: Final = 2000
_FEED_SUBS: Final = (
    Sub(
        "add",
        "Test a feed URL and, if it works, poll it for this server",
        (
            Arg("url", "The feed's http(s) URL (RSS or Atom)", low=8, high=FEED_URL_MAX),
            Arg(
                "every",
                "How often to poll it, e.g. 5m, 15m or 1h (default 5m)",
                required=False,
                low=2,
                high=10,
                named=True,
            ),
            Arg(
                "name",
                "A name for it (default: the feed's title)",
                required=False,
                low=1,
                high=FEED_NAME_MAX,
                named=True,
            ),
        ),
        slow=True,
    ),
    Sub("list", "This server's feeds with their health"),
    Sub(
        "remove",
        "Stop polling a feed added here",
        (Arg("name", "The feed", low=1, high=FEED_NAME_MAX, complete="feed"),),
    ),
    Sub(
        "test",
        "Fetch a feed once: its newest items and what they would match",
        (Arg("url", "The feed's http(s) URL", low=8, high=FEED_URL_MAX),),
        slow=True,
    ),
)
FEED_SUBCOMMANDS: Final = (*(s.name for s in _FEED_SUBS), "help")

# admins only: the handlers check (Slack workspace admins, configured admins, Discord Manage Server)
FEED = CommandSpec(
    name="feed",
    description="Feeds this server polls for its watchlists",
    summary="Feeds this workspace polls for its watchlists (admins)",
    usage_hint="help | add URL [every 5m] [name NAME] | list | remove NAME | test URL",
    subcommands=(
        *_FEED_SUBS,
        Sub(
            "help",
            "How to use /feed",
            (
                Arg(
                    "topic",
                    "A subcommand to explain",
                    required=False,
                    choices=tuple((s.name, s.name) for s in _FEED_SUBS),
                ),
            ),
            private=True,
        ),
    ),
    admins_only=True,
    private=True,
)

COMMANDS: Final[tuple[CommandSpec, ...]] = (*SINGLE, WATCH, FEED)
COMMAND_NAMES: Final[tuple[CommandName, ...]] = tuple(c.name for c in COMMANDS)


def command(name: str) -> CommandSpec | None:
    """The spec of ``/name`` (None for a command marketbot does not have)."""
    return next((c for c in COMMANDS if c.name == name), None)


def slack_manifest_commands(url: str | None = None) -> list[dict[str, Any]]:
    """``features.slash_commands`` of the Slack app manifest (with ``url`` for HTTP mode)."""
    out: list[dict[str, Any]] = []
    for spec in COMMANDS:
        entry: dict[str, Any] = {"command": f"/{spec.name}"}
        if url:
            entry["url"] = url
        entry |= {"description": spec.summary, "usage_hint": spec.usage_hint, "should_escape": False}
        out.append(entry)
    return out


__all__ = [
    "COMMANDS",
    "COMMAND_NAMES",
    "FEED",
    "FEED_NAME_MAX",
    "FEED_SUBCOMMANDS",
    "FEED_URL_MAX",
    "NEWS",
    "QUOTE",
    "SINGLE",
    "SINGLE_NAMES",
    "WATCH",
    "WATCH_SUBCOMMANDS",
    "Arg",
    "CommandSpec",
    "Sub",
    "command",
    "slack_manifest_commands",
]

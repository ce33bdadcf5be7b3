"""The grammar of /quote, /news and /watch: text in, a typed command out, or a UsageError.

Parsing is pure and knows nothing of the store or the symbol directory: it checks shapes
(names, symbols, numbers, durations, argument counts). What the arguments mean (is NVDA
a known symbol, may this user edit that watchlist) is the handlers' business.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Final, Literal

from bot.commands import messages as msg
from bot.commands import spec
from bot.commands.args import Token, iter_tokens, query_text
from bot.commands.options import OptionChange, OptionError, parse_options
from bot.config import WATCHLIST_NAME
from bot.domain.errors import CommandError, ValidationError
from bot.domain.rules.query import canonical_symbol
from bot.domain.timeutil import parse_duration

MAX_QUOTE_SYMBOLS: Final = 10
DEFAULT_NEWS: Final = 5
MAX_NEWS: Final = 20
MIN_MUTE: Final = timedelta(minutes=1)
MAX_MUTE: Final = timedelta(days=30)

_ALIASES: Final = {
    "ls": "list",
    "info": "show",
    "new": "create",
    "rm": "remove",
    "del": "delete",
    "sub": "subscribe",
    "unsub": "unsubscribe",
    "subs": "subscriptions",
    "opts": "options",
    "set": "options",
    "?": "help",
}


class UsageError(CommandError):
    """A malformed call; ``usage`` names the command or /watch subcommand whose usage to show."""

    def __init__(self, message: str, usage: str | None = None) -> None:
        super().__init__(message)
        self.usage = usage


# ---------------------------------------------------------------- parsed commands


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


# ---------------------------------------------------------------- helpers


def watchlist_name(token: Token) -> str:
    """A valid watchlist name, or a UsageError saying what a name may contain."""
    if not WATCHLIST_NAME.match(token.text) or token.marker:
        raise UsageError(msg.bad_name(token.shown))
    return token.text


def symbol(text: str) -> str:
    """The canonical symbol for what a user typed (``$brk.b`` -> ``BRK-B``), or a UsageError."""
    try:
        return canonical_symbol(text)
    except ValidationError:
        raise UsageError(msg.bad_symbol(text)) from None


def split_commas(tokens: list[Token]) -> list[Token]:
    """``AMZN,MSFT`` and ``AMZN, MSFT`` as separate bare arguments (quoted ones are kept whole)."""
    out: list[Token] = []
    for t in tokens:
        if t.quoted or "," not in t.text:
            out.append(t)
            continue
        pos = t.start
        for part in t.text.split(","):
            if part:
                out.append(Token(text=part, start=pos, end=pos + len(part)))
            pos += len(part) + 1
    return out


_BARE_NUMBER: Final = re.compile(r"^\d+(?:\.\d+)?$")


def duration(text: str) -> timedelta:
    """A mute duration such as ``30m``, ``2h`` or ``1d`` (a unit is required)."""
    if _BARE_NUMBER.match(text):
        raise UsageError(msg.duration_needs_unit(text), "mute")
    try:
        value = parse_duration(text)
    except ValidationError:
        raise UsageError(msg.bad_duration(text), "mute") from None
    if not MIN_MUTE <= value <= MAX_MUTE:
        raise UsageError(msg.duration_out_of_range(text, MIN_MUTE, MAX_MUTE), "mute")
    return value


def _looks_like_duration(text: str) -> bool:
    return bool(re.match(r"^\d", text))


def _name_arg(tokens: list[Token], key: str) -> str:
    if not tokens:
        raise UsageError(msg.missing("a watchlist NAME", key), key)
    return watchlist_name(tokens[0])


def _no_more(tokens: list[Token], key: str) -> None:
    if tokens:
        raise UsageError(msg.extra_arguments(key, [t.shown for t in tokens]), key)


def _subcommand(word: str) -> str:
    key = word.lower()
    key = _ALIASES.get(key, key)
    if key in msg.WATCH_SUBCOMMANDS:
        return key
    close = difflib.get_close_matches(key, msg.WATCH_SUBCOMMANDS, n=1, cutoff=0.6)
    raise UsageError(
        msg.unknown_subcommand(word if len(word) <= 30 else word[:27] + "...", close[0] if close else None)
    )


# ---------------------------------------------------------------- the grammar


def parse_quote(text: str) -> QuoteCmd:
    tokens = split_commas(list(iter_tokens(text)))
    if not tokens:
        raise UsageError(msg.missing("at least one ticker, e.g. /quote NVDA", "quote"), "quote")
    symbols = tuple(dict.fromkeys(symbol(t.text) for t in tokens))
    if len(symbols) > MAX_QUOTE_SYMBOLS:
        raise UsageError(msg.too_many_symbols(len(symbols), MAX_QUOTE_SYMBOLS), "quote")
    return QuoteCmd(symbols)


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise UsageError(msg.bad_count(text, MAX_NEWS), "news")
    return int(text)


def parse_news(text: str) -> NewsCmd:
    tokens = split_commas(list(iter_tokens(text)))
    if not tokens:
        raise UsageError(msg.missing("a ticker, e.g. /news AMZN", "news"), "news")
    if len(tokens) > 2:
        raise UsageError(msg.extra_arguments("news", [t.shown for t in tokens[2:]]), "news")
    first, rest = tokens[0].text, [t.text for t in tokens[1:]]
    if rest and first.isdigit() and not rest[0].isdigit():  # "/news 10 AMZN" reads fine too
        first, rest = rest[0], [first]
    sym = symbol(first)
    if not rest:
        return NewsCmd(sym)
    asked = _count(rest[0])
    if asked > MAX_NEWS:
        return NewsCmd(sym, MAX_NEWS, asked)
    return NewsCmd(sym, asked)


def parse_watch(text: str) -> Command:
    tokens = iter_tokens(text)
    first = next(tokens, None)
    if first is None:
        return HelpCmd()
    key = _subcommand(first.text)
    if key == "query":
        # NAME, then the raw rest of the line: queries have their own quoting rules
        name_tok = next(tokens, None)
        if name_tok is None:
            raise UsageError(msg.missing("a watchlist NAME and a query", "query"), "query")
        name = watchlist_name(name_tok)
        query = query_text(text[name_tok.end :])
        if not query:
            raise UsageError(msg.empty_query(), "query")
        return QueryCmd(name, query)
    args = list(tokens)
    if key == "help":
        topic = None
        if args:
            word = args[0].text.lower().lstrip("/")
            if word == "feed":
                return FeedHelpCmd()
            topic = word if word in spec.SINGLE_NAMES else _subcommand(word)
        return HelpCmd(topic)
    if key == "list":
        words = " ".join(t.text for t in args).strip()
        return ListCmd(words[: spec.LIST_FILTER_MAX] or None)
    if key in ("subscriptions", "status"):
        _no_more(args, key)
        return StatusCmd() if key == "status" else SubscriptionsCmd()
    if key in ("show", "delete", "test", "unsubscribe"):
        name = _name_arg(args, key)
        _no_more(args[1:], key)
        if key == "show":
            return ShowCmd(name)
        if key == "delete":
            return DeleteCmd(name)
        return TestCmd(name) if key == "test" else UnsubscribeCmd(name)
    if key in ("create", "add", "remove"):
        name = _name_arg(args, key)
        items = split_commas(args[1:])
        if not items:
            raise UsageError(msg.no_items(key), key)
        return EditCmd(key, name, tuple(items))  # type: ignore[arg-type]
    if key in ("subscribe", "options"):
        name = _name_arg(args, key)
        try:
            changes = parse_options(args[1:])
        except OptionError as exc:
            raise UsageError(str(exc), key) from None
        return SubscribeCmd(name, changes) if key == "subscribe" else OptionsCmd(name, changes)
    if key == "mute":
        if not args:
            raise UsageError(msg.missing("a duration such as 30m, 2h or 1d", key), key)
        # either order: "mute 2h NAME" or "mute NAME 2h"
        if len(args) >= 2 and not _looks_like_duration(args[0].text) and _looks_like_duration(args[1].text):
            args[0], args[1] = args[1], args[0]
        value = duration(args[0].text)
        mute_name = watchlist_name(args[1]) if len(args) > 1 else None
        _no_more(args[2:], key)
        return MuteCmd(value, mute_name)
    # unmute
    unmute_name = watchlist_name(args[0]) if args else None
    _no_more(args[1:], key)
    return UnmuteCmd(unmute_name)


def parse(command: str, text: str) -> Command:
    """Parse the text after ``/quote``, ``/news`` or ``/watch``; raise UsageError (a CommandError)."""
    try:
        if command == "quote":
            return parse_quote(text)
        if command == "news":
            return parse_news(text)
        if command == "watch":
            return parse_watch(text)
        if command == "feed":
            return parse_feed(text)
    except UsageError:
        raise
    except CommandError as exc:  # the tokenizer's (an unclosed quote): show the command's usage
        usage = command if command in spec.SINGLE_NAMES else "feed help" if command == "feed" else None
        raise UsageError(str(exc), usage) from None
    raise UsageError(msg.NO_COMMAND.format(command=str(command)[:20]))


# ---------------------------------------------------------------- /feed

FEED_NAME_MAX: Final = spec.FEED_NAME_MAX
MAX_URL: Final = spec.FEED_URL_MAX
_FEED_NAME: Final = re.compile(r"^[\w][\w .&()'’-]*$")
_SLACK_LINK: Final = re.compile(r"^<([^<>|]+)(?:\|[^<>]*)?>$")


def feed_url(token: Token) -> str:
    """An http(s) URL as typed (Slack's ``<url|label>`` link form unwrapped), or a UsageError."""
    text = token.text.strip()
    if m := _SLACK_LINK.match(text):
        text = m.group(1)
    shown = token.shown if len(token.shown) <= 60 else token.shown[:57] + "..."
    if (
        len(text) > MAX_URL
        or not re.match(r"^https?://[^\s/?#]+", text, re.I)
        or any(c.isspace() for c in text)
    ):
        raise UsageError(msg.bad_feed_url(shown), None)
    return text


def feed_name(words: list[Token]) -> str:
    """A feed name (several words allowed), or a UsageError saying what a name may be."""
    name = " ".join(t.text for t in words).strip()
    if not name or len(name) > FEED_NAME_MAX or not _FEED_NAME.match(name):
        shown = name if len(name) <= 60 else name[:57] + "..."
        raise UsageError(msg.bad_feed_name(shown, FEED_NAME_MAX), None)
    return name


def interval(text: str) -> timedelta:
    """A poll interval such as ``5m`` or ``2h`` (a unit is required); the range is the handler's."""
    if _BARE_NUMBER.match(text):
        raise UsageError(msg.bad_interval(text), "feed add")
    try:
        return parse_duration(text)
    except ValidationError:
        raise UsageError(msg.bad_interval(text), "feed add") from None


def _feed_subcommand(word: str) -> str:
    key = _ALIASES.get(word.lower(), word.lower())
    key = {"delete": "remove", "ls": "list", "check": "test"}.get(key, key)
    if key in msg.FEED_SUBCOMMANDS:
        return key
    close = difflib.get_close_matches(key, msg.FEED_SUBCOMMANDS, n=1, cutoff=0.6)
    shown = word if len(word) <= 30 else word[:27] + "..."
    raise UsageError(msg.unknown_feed_subcommand(shown, close[0] if close else None), "feed help")


def parse_feed(text: str) -> Command:
    """``/feed add URL [every 5m] [name NAME...]``, ``list``, ``remove NAME``, ``test URL``, ``help``."""
    tokens = list(iter_tokens(text))
    if not tokens:
        return FeedHelpCmd()
    key = _feed_subcommand(tokens[0].text)
    args = tokens[1:]
    usage = f"feed {key}"
    if key == "help":
        topic = _feed_subcommand(args[0].text.lstrip("/")) if args else None
        return FeedHelpCmd(topic)
    if key == "list":
        if args:
            raise UsageError(msg.extra_arguments(usage, [t.shown for t in args]), usage)
        return FeedListCmd()
    if key == "remove":
        if not args:
            raise UsageError(msg.missing("the NAME of a feed (see /feed list)", usage), usage)
        try:
            return FeedRemoveCmd(feed_name(args))
        except UsageError as exc:
            raise UsageError(str(exc), usage) from None
    if not args:
        raise UsageError(msg.missing("a feed URL, e.g. https://example.com/rss", usage), usage)
    try:
        url = feed_url(args[0])
    except UsageError as exc:
        raise UsageError(str(exc), usage) from None
    if key == "test":
        if len(args) > 1:
            raise UsageError(msg.extra_arguments(usage, [t.shown for t in args[1:]]), usage)
        return FeedTestCmd(url)
    every: timedelta | None = None
    name: str | None = None
    rest = args[1:]
    while rest:
        word = rest[0].text.lower()
        if word == "every" and not rest[0].quoted:
            if len(rest) < 2:
                raise UsageError(msg.missing("an interval after every, e.g. every 5m", usage), usage)
            every = interval(rest[1].text)
            rest = rest[2:]
        elif word == "name" and not rest[0].quoted:
            if len(rest) < 2:
                raise UsageError(msg.missing("a NAME after name, e.g. name Example Markets", usage), usage)
            try:
                name = feed_name(rest[1:])
            except UsageError as exc:
                raise UsageError(str(exc), usage) from None
            rest = []
        else:
            raise UsageError(msg.extra_arguments(usage, [t.shown for t in rest]), usage)
    return FeedAddCmd(url, every, name)

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
    pass


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
)


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
            topic = word if word in spec.SINGLE_NAMES else _subcommand(word)
        return HelpCmd(topic)
    if key in ("list", "subscriptions"):
        _no_more(args, key)
        return ListCmd() if key == "list" else SubscriptionsCmd()
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
    except UsageError:
        raise
    except CommandError as exc:  # the tokenizer's (an unclosed quote): show the command's usage
        raise UsageError(str(exc), command if command in spec.SINGLE_NAMES else None) from None
    raise UsageError(msg.NO_COMMAND.format(command=str(command)[:20]))

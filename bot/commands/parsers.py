"""The argument parsers the command spec names: one per argument grammar that is more than a word.

The grammar (``bot.commands.grammar``) parses every argument from its ``Arg`` in the spec:
plain words, numbers, on/off, choices. An ``Arg`` whose grammar is special (a watchlist name,
tickers with ``$`` and commas, watchlist items with quotes and wildcards, durations, feed URLs)
names one of the functions here as its ``parse``: ``(tokens, key) -> value``, where ``tokens``
are the words the argument took (one, or every remaining one for a ``rest`` argument) and
``key`` names the usage a UsageError shows. A subcommand whose whole line has its own grammar
(``/news 10 AMZN`` in either order, a query's raw text, subscription options, ``/watch mute``
in either order) names a ``grammar`` here: ``(text, tokens, key) -> {field: value}``.

Parsing is pure and knows nothing of the store or the symbol directory: it checks shapes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any, Final

from bot.commands import messages as msg
from bot.commands.args import Token, query_text
from bot.commands.options import OptionError, parse_options
from bot.config import WATCHLIST_NAME
from bot.domain.errors import CommandError, ValidationError
from bot.domain.rules.query import canonical_symbol
from bot.domain.timeutil import parse_duration

MAX_QUOTE_SYMBOLS: Final = 10
DEFAULT_NEWS: Final = 5
MAX_NEWS: Final = 20
MIN_MUTE: Final = timedelta(minutes=1)
MAX_MUTE: Final = timedelta(days=30)
LIST_FILTER_MAX: Final = 100
FEED_NAME_MAX: Final = 64
MAX_URL: Final = 2000


class UsageError(CommandError):
    """A malformed call; ``usage`` names the command or /watch subcommand whose usage to show."""

    def __init__(self, message: str, usage: str | None = None) -> None:
        super().__init__(message)
        self.usage = usage


# ---------------------------------------------------------------- words


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


def split_commas(tokens: Sequence[Token]) -> list[Token]:
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


def feed_name(words: Sequence[Token]) -> str:
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


# ---------------------------------------------------------------- Arg.parse: (tokens, key) -> value


def name_arg(tokens: Sequence[Token], key: str) -> str:
    """A watchlist NAME."""
    return watchlist_name(tokens[0])


def quote_symbols(tokens: Sequence[Token], key: str) -> tuple[str, ...]:
    """/quote's tickers: commas or spaces, ``$`` allowed, duplicates dropped, at most ten."""
    symbols = tuple(dict.fromkeys(symbol(t.text) for t in split_commas(tokens)))
    if not symbols:  # only commas
        raise UsageError(msg.needs(key, "at least one ticker, e.g. /quote NVDA"), key)
    if len(symbols) > MAX_QUOTE_SYMBOLS:
        raise UsageError(msg.too_many_symbols(len(symbols), MAX_QUOTE_SYMBOLS), key)
    return symbols


def items(tokens: Sequence[Token], key: str) -> tuple[Token, ...]:
    """Watchlist items as typed (the handler classifies them): commas split bare ones."""
    found = split_commas(tokens)
    if not found:
        raise UsageError(msg.no_items(key), key)
    return tuple(found)


def list_filter(tokens: Sequence[Token], key: str) -> str | None:
    """The words of ``/watch list TEXT``, cut to the longest filter."""
    words = " ".join(t.text for t in tokens).strip()
    return words[:LIST_FILTER_MAX] or None


def feed_url_arg(tokens: Sequence[Token], key: str) -> str:
    try:
        return feed_url(tokens[0])
    except UsageError as exc:
        raise UsageError(str(exc), key) from None


def feed_name_arg(tokens: Sequence[Token], key: str) -> str:
    try:
        return feed_name(tokens)
    except UsageError as exc:
        raise UsageError(str(exc), key) from None


def interval_arg(tokens: Sequence[Token], key: str) -> timedelta:
    return interval(tokens[0].text)


# ---------------------------------------------------------------- Sub.grammar: (text, tokens, key) -> values


def _count(text: str, key: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise UsageError(msg.bad_count(text, MAX_NEWS), key)
    return int(text)


def news_grammar(text: str, tokens: Iterator[Token], key: str) -> dict[str, Any]:
    """``/news AMZN [N]``, also written ``/news N AMZN``; a count above the most is clamped."""
    found = split_commas(list(tokens))
    if not found:
        raise UsageError(msg.needs(key, "a ticker, e.g. /news AMZN"), key)
    if len(found) > 2:
        raise UsageError(msg.extra_arguments(key, [t.shown for t in found[2:]]), key)
    first, rest = found[0].text, [t.text for t in found[1:]]
    if rest and first.isdigit() and not rest[0].isdigit():  # "/news 10 AMZN" reads fine too
        first, rest = rest[0], [first]
    sym = symbol(first)
    if not rest:
        return {"symbol": sym}
    asked = _count(rest[0], key)
    if asked > MAX_NEWS:
        return {"symbol": sym, "count": MAX_NEWS, "asked": asked}
    return {"symbol": sym, "count": asked}


def query_grammar(text: str, tokens: Iterator[Token], key: str) -> dict[str, Any]:
    """NAME, then the raw rest of the line: queries have their own quoting rules."""
    name_tok = next(tokens, None)
    if name_tok is None:
        raise UsageError(msg.needs(key, "a watchlist NAME and a query"), key)
    name = watchlist_name(name_tok)
    query = query_text(text[name_tok.end :])
    if not query:
        raise UsageError(msg.empty_query(), key)
    return {"name": name, "query": query}


def options_grammar(text: str, tokens: Iterator[Token], key: str) -> dict[str, Any]:
    """NAME, then subscription options in any order (``quiet 22:00-06:00 max 10/h ...``)."""
    args = list(tokens)
    if not args:
        raise UsageError(msg.needs(key, "a watchlist NAME"), key)
    name = watchlist_name(args[0])
    try:
        changes = parse_options(args[1:])
    except OptionError as exc:
        raise UsageError(str(exc), key) from None
    return {"name": name, "options": changes}


def mute_grammar(text: str, tokens: Iterator[Token], key: str) -> dict[str, Any]:
    """``/watch mute 2h [NAME]``, also written ``mute NAME 2h``."""
    args = list(tokens)
    if not args:
        raise UsageError(msg.needs(key, "a duration such as 30m, 2h or 1d"), key)
    if len(args) >= 2 and not _looks_like_duration(args[0].text) and _looks_like_duration(args[1].text):
        args[0], args[1] = args[1], args[0]
    value = duration(args[0].text)
    name = watchlist_name(args[1]) if len(args) > 1 else None
    if args[2:]:
        raise UsageError(msg.extra_arguments(key, [t.shown for t in args[2:]]), key)
    return {"duration": value, "name": name}

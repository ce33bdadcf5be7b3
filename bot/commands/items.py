"""Reading watchlist items: which arguments are tickers, which keywords, and how each was read.

``$NVDA`` is always a ticker (known to the symbol directory or not: the ``$`` confirms it);
a bare upper-case symbol (``NVDA``, ``BRK.B``) is a ticker when the directory knows it, and
otherwise an error with "did you mean" suggestions. Everything else is a rule term: a word,
a quoted phrase, ``chip*``, ``=cloud``; ``-term`` excludes. Upper-case words that are common
acronyms (AI, CEO, ETF) are keywords unless written as ``$AI``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

from bot.commands import messages as msg
from bot.commands.args import Token
from bot.domain.errors import ValidationError
from bot.domain.rules.lexicon import BARE_SYMBOL_STOPLIST
from bot.domain.rules.query import SYMBOL_RE, Term, TermKind, canonical_symbol, parse_term
from bot.domain.rules.symbols import SymbolDirectory

ItemKind = Literal["ticker", "keyword", "exclude"]
MAX_TERM: Final = 100  # characters in one keyword or phrase


@dataclass(frozen=True, slots=True)
class Item:
    """One item as read: ``value`` is what is stored (a symbol or a term's text)."""

    kind: ItemKind
    value: str
    shown: str  # as the user wrote it
    reading: str  # how it was read, for the echo
    hint: str = ""

    @property
    def key(self) -> tuple[str, ...]:
        """Identity for duplicates and removal: symbols by symbol, terms by what they match."""
        if self.kind == "ticker":
            return ("ticker", self.value)
        return (self.kind, *term_key(self.value))


@dataclass(frozen=True, slots=True)
class ItemProblem:
    shown: str
    problem: str


def term_key(text: str) -> tuple[str, ...]:
    """What a stored keyword matches (so ``Clouds`` and ``cloud`` are the same item)."""
    try:
        return parse_term(text).key
    except ValidationError:
        return ("raw", text.lower())


def describe_term(term: Term) -> str:
    """How a parsed term reads to a user."""
    if term.kind is TermKind.TICKER:
        return msg.READ_TICKER_TERM.format(term=term.text)
    if term.kind is TermKind.PHRASE:
        return msg.READ_PHRASE.format(term=" ".join(term.words))
    if term.kind is TermKind.PREFIX:
        return msg.READ_PREFIX.format(term=term.text, stem=term.words[0])
    if term.kind is TermKind.EXACT:
        return msg.READ_EXACT.format(term=term.text)
    return msg.READ_WORD.format(term=term.text)


def _company_name(directory: SymbolDirectory, symbol: str) -> str | None:
    company = directory.company(symbol)
    if company is None:
        return None
    return company.match_names[0] if company.match_names else (company.names[0] if company.names else None)


def _stored_term(token: Token, body: str, exact: bool) -> str:
    """The keyword text to store for a term token (quotes only where they change the meaning)."""
    if token.quoted:
        inner = body.strip()
        if "*" in inner:  # let the rules say why a quoted '*' is wrong
            return f'"{inner}"'
        return f'="{inner}"' if exact else inner
    return body


def read_item(token: Token, directory: SymbolDirectory, *, strict: bool = True) -> Item | ItemProblem:
    """Classify one argument; an ``ItemProblem`` says what to fix.

    ``strict`` checks bare symbols against the directory (adding); removing takes them as read.
    """
    text = token.text
    shown = token.shown
    marker = token.marker
    if not token.quoted and text.startswith("-") and len(text) > 1:
        marker, text = "-", text[1:]
    exclude = marker.startswith("-")
    exact = marker.endswith("=")
    if not token.quoted and text.startswith("=") and len(text) > 1:
        exact, text = True, text[1:]
    hint = ""
    if not token.quoted and not exact and text.startswith("$"):
        try:
            sym = canonical_symbol(text)
        except ValidationError:
            return ItemProblem(shown, msg.bad_symbol(text))
        if exclude:
            return _term_item(token, f"${sym}", exclude=True, exact=False, shown=shown)
        if sym in directory:
            return Item("ticker", sym, shown, msg.read_ticker(sym, _company_name(directory, sym)))
        return Item("ticker", sym, shown, msg.read_unknown_ticker(sym, directory.suggest(sym)))
    if not token.quoted and not exact and not exclude and _symbol_shaped(text):
        sym = canonical_symbol(text)
        if sym in BARE_SYMBOL_STOPLIST:
            hint = msg.hint_stoplisted(sym)
        elif sym in directory or not strict:
            return Item("ticker", sym, shown, msg.read_ticker(sym, _company_name(directory, sym)))
        else:
            return ItemProblem(shown, msg.unknown_symbol(sym, directory.suggest(sym)))
    elif not token.quoted and not exclude and not exact and text.upper() != text:
        # "nvda" is a keyword, but say how to get the ticker; "Nvidia" hints at $NVDA
        upper = text.upper()
        if _symbol_shaped(upper) and upper in directory and upper not in BARE_SYMBOL_STOPLIST:
            hint = msg.hint_lowercase_symbol(upper)
        else:
            company = directory.lookup_name(text)
            if company is not None:
                hint = msg.hint_company(text, company.symbol)
    return _term_item(token, text, exclude=exclude, exact=exact, shown=shown, hint=hint)


def _symbol_shaped(text: str) -> bool:
    if text != text.upper() or not any(c.isalpha() for c in text):
        return False
    try:
        sym = canonical_symbol(text)
    except ValidationError:
        return False
    return bool(SYMBOL_RE.match(sym))


def _term_item(
    token: Token, body: str, *, exclude: bool, exact: bool, shown: str, hint: str = ""
) -> Item | ItemProblem:
    stored = _stored_term(token, body, exact) if token.quoted else (f"={body}" if exact else body)
    if len(stored) > MAX_TERM:
        return ItemProblem(shown, msg.term_too_long(shown, MAX_TERM))
    try:
        term = parse_term(stored)
    except ValidationError as exc:
        return ItemProblem(shown, str(exc))
    if term.kind is TermKind.TICKER and not exclude:
        return Item("ticker", term.symbol, shown, msg.read_ticker(term.symbol, None))
    reading = describe_term(term)
    if exclude:
        return Item("exclude", stored, shown, msg.read_exclude(reading), hint)
    return Item("keyword", stored, shown, reading, hint)


def read_items(
    tokens: Iterable[Token], directory: SymbolDirectory, *, strict: bool = True
) -> tuple[list[Item], list[ItemProblem]]:
    """Classify every argument; duplicates among them are dropped (the first one is kept)."""
    items: list[Item] = []
    problems: list[ItemProblem] = []
    seen: set[tuple[str, ...]] = set()
    for token in tokens:
        result = read_item(token, directory, strict=strict)
        if isinstance(result, ItemProblem):
            problems.append(result)
        elif result.key not in seen:
            seen.add(result.key)
            items.append(result)
    return items, problems

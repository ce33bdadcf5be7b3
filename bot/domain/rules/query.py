"""Rule terms and the boolean query language.

A term is one of::

    cloud              a word; English inflections match ("clouds"), whole words only
    "export control"   a phrase: consecutive words, each matched like a word
    export-control     the same phrase (punctuation separates words)
    sanction*          a prefix: any word starting with "sanction"
    =cloud             an exact word form: "cloud" but not "clouds" (also ="export control")
    $NVDA              a ticker: any way a story can mention NVDA (see ``tickers``)

A query combines terms with AND, OR, NOT and parentheses; two terms side by side mean AND.
Operators are recognised in any case (``and`` is AND); quote them to search for the word.
NOT binds tightest, then AND, then OR. A query must need at least one term to be present
("NOT opinion" alone would match nearly every story) and errors name the 1-based column.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from bot.domain.errors import ValidationError
from bot.domain.rules.tokens import stem, words

MAX_QUERY_LENGTH: Final = 2000
MAX_QUERY_DEPTH: Final = 50
MIN_PREFIX: Final = 2

# Yahoo-style symbols: AMZN, BRK-B, SHOP.TO, 7203.T; at least one letter
SYMBOL_RE: Final = re.compile(r"^(?=[A-Z0-9.\-]*[A-Z])[A-Z0-9]{1,6}(?:[.\-][A-Z0-9]{1,4}){0,2}$")
_SHARE_CLASS: Final = re.compile(r"^([A-Z]{1,5})[./]([A-C])$")


def symbol_form(text: str) -> str:
    """Upper-case Yahoo spelling of what someone typed, without validating it.

    ``" $brk.b "`` -> ``"BRK-B"`` (a share class is written with a dash, as Yahoo and SEC do;
    ``BRK.B``, ``BRK/B`` and ``brk-b`` are one symbol), ``"^gspc"`` -> ``"^GSPC"``. The one place
    where a symbol's spelling is decided: config, commands, the rules and the quote source use it.
    """
    sym = text.strip().lstrip("$").strip().upper()
    m = _SHARE_CLASS.match(sym)
    return f"{m.group(1)}-{m.group(2)}" if m else sym


def canonical_symbol(text: str) -> str:
    """Upper-case Yahoo form of a watchable symbol: ``$brk.b`` -> ``BRK-B``; raises ValidationError."""
    sym = symbol_form(text)
    if not SYMBOL_RE.match(sym):
        raise ValidationError(
            f"{text.strip()!r} is not a ticker symbol: use 1-6 letters or digits with an optional "
            "share class or exchange suffix, e.g. NVDA, BRK-B, SHOP.TO"
        )
    return sym


class TermKind(enum.StrEnum):
    """How a term matches."""

    WORD = "word"  # one word, stemmed
    PHRASE = "phrase"  # consecutive words, each stemmed
    EXACT = "exact"  # one or more words in exactly this form (case-insensitive)
    PREFIX = "prefix"  # one word starting with these letters
    TICKER = "ticker"  # a symbol, by cashtag, exchange, bare upper case or company name


@dataclass(frozen=True, slots=True)
class Term:
    """One parsed term. ``text`` is how it is shown in explanations."""

    text: str
    kind: TermKind
    words: tuple[str, ...] = ()
    symbol: str = ""

    @property
    def key(self) -> tuple[str, ...]:
        """Identity for sharing: equal keys match exactly the same stories."""
        if self.kind is TermKind.TICKER:
            return ("ticker", self.symbol)
        if self.kind in (TermKind.WORD, TermKind.PHRASE):
            return ("stem", *(stem(w) for w in self.words))
        return (self.kind.value, *self.words)

    def __str__(self) -> str:
        return self.text


def parse_term(text: str, *, column: int | None = None) -> Term:
    """Parse one keyword, exclude term or query term; raise ValidationError saying what to fix.

    ``column`` is where the term starts in a larger query, for error messages.
    """
    if column is None:
        return _parse_term_cached(text)
    return _parse_term(text, column=column)


@lru_cache(maxsize=100_000)
def _parse_term_cached(text: str) -> Term:
    """Terms are immutable and watchlists repeat them (validation, warnings and the matcher
    all parse each one): parsed once per text."""
    return _parse_term(text, column=None)


def _parse_term(text: str, *, column: int | None) -> Term:
    raw = text.strip()
    at = f" at {column}" if column is not None else ""
    if not raw:
        raise ValidationError(f'empty term{at}: write a word, a "phrase", word* or $TICKER')
    if raw.startswith("$"):
        sym = raw[1:]
        if not sym:
            raise ValidationError(f"'$'{at} needs a ticker symbol after it, e.g. $NVDA")
        try:
            symbol = canonical_symbol(sym)
        except ValidationError:
            raise ValidationError(
                f"{raw!r}{at} is not a ticker symbol: use $ and 1-6 letters or digits with an optional "
                "share class or exchange suffix, e.g. $NVDA, $BRK-B, $SHOP.TO"
            ) from None
        return Term(text=f"${symbol}", kind=TermKind.TICKER, symbol=symbol)
    exact = False
    body = raw
    if body.startswith("="):
        exact = True
        body = body[1:].strip()
    quoted = len(body) >= 2 and body[0] == '"' and body[-1] == '"'
    if quoted:
        body = body[1:-1]
    prefix = False
    if body.endswith("*"):
        if quoted:
            raise ValidationError(
                f"term {raw!r}{at}: '*' works on a single unquoted word (sanction*), not inside quotes"
            )
        prefix = True
        body = body.rstrip("*")
    if "*" in body:
        raise ValidationError(f"term {raw!r}{at}: '*' may only end a word, as in sanction*")
    parts = tuple(words(body))
    if not parts:
        raise ValidationError(f"term {raw!r}{at} has no letters or digits: write a word or a phrase")
    if prefix:
        if exact:
            raise ValidationError(f"term {raw!r}{at}: use either =word (exact) or word* (prefix), not both")
        if len(parts) != 1:
            raise ValidationError(f"term {raw!r}{at}: '*' works on a single word, as in sanction*")
        if len(parts[0]) < MIN_PREFIX:
            raise ValidationError(
                f"term {raw!r}{at}: a prefix needs at least {MIN_PREFIX} letters before '*'"
            )
        return Term(text=f"{parts[0]}*", kind=TermKind.PREFIX, words=parts)
    if exact:
        shown = parts[0] if len(parts) == 1 else f'"{" ".join(parts)}"'
        return Term(text=f"={shown}", kind=TermKind.EXACT, words=parts)
    kind = TermKind.WORD if len(parts) == 1 else TermKind.PHRASE
    shown = raw if not quoted else body.strip()
    return Term(text=" ".join(shown.split()), kind=kind, words=parts)


# ---------------------------------------------------------------- query AST


@dataclass(frozen=True, slots=True)
class TermNode:
    term: Term
    column: int


@dataclass(frozen=True, slots=True)
class And:
    parts: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    parts: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    part: Node


Node = TermNode | And | Or | Not


def evaluate(node: Node, present: Callable[[Term], bool]) -> bool:
    """Truth of ``node`` when ``present(term)`` says which terms a story contains."""
    if isinstance(node, TermNode):
        return present(node.term)
    if isinstance(node, And):
        return all(evaluate(p, present) for p in node.parts)
    if isinstance(node, Or):
        return any(evaluate(p, present) for p in node.parts)
    return not evaluate(node.part, present)


def iter_terms(node: Node, *, negated: bool = False) -> Iterator[tuple[Term, bool]]:
    """Every term with whether it sits under an odd number of NOTs."""
    if isinstance(node, TermNode):
        yield node.term, negated
    elif isinstance(node, And | Or):
        for p in node.parts:
            yield from iter_terms(p, negated=negated)
    else:
        yield from iter_terms(node.part, negated=not negated)


def shown(term: Term) -> str:
    """A term as a user would write it in a query (quoted when it needs to be): parses back."""
    text = term.text
    if term.kind not in (TermKind.WORD, TermKind.PHRASE):
        return text
    plain = (
        not any(c.isspace() or c in '()"' for c in text)
        and text.upper() not in _OPERATORS
        and text[:1] not in ("$", "=")
        and not text.endswith("*")
    )
    return text if plain else f'"{text}"'


def render(node: Node) -> str:
    """A canonical, fully parenthesised rendering (for explanations and tests)."""
    if isinstance(node, TermNode):
        return shown(node.term)
    if isinstance(node, Not):
        return f"NOT {render(node.part)}"
    op = " AND " if isinstance(node, And) else " OR "
    return "(" + op.join(render(p) for p in node.parts) + ")"


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed query: its text, its tree and its terms."""

    text: str
    root: Node

    @property
    def terms(self) -> tuple[Term, ...]:
        return tuple(dict.fromkeys(t for t, _ in iter_terms(self.root)))

    def evaluate(self, present: Callable[[Term], bool]) -> bool:
        return evaluate(self.root, present)

    def __str__(self) -> str:
        return render(self.root)


# ---------------------------------------------------------------- lexer and parser

_OPERATORS: Final = {"AND", "OR", "NOT"}


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # "(", ")", "AND", "OR", "NOT", "TERM", "END"
    text: str
    column: int  # 1-based


def _lex(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c in "()":
            toks.append(_Tok(c, c, i + 1))
            i += 1
            continue
        start = i
        if c == "=" and i + 1 < n and text[i + 1] == '"':
            i += 1
            c = '"'
        if c == '"':
            close = text.find('"', i + 1)
            if close < 0:
                raise ValidationError(f"unclosed quote '\"' at {i + 1}: add the closing '\"'")
            i = close + 1
            toks.append(_Tok("TERM", text[start:i], start + 1))
            continue
        while i < n and not text[i].isspace() and text[i] not in '()"':
            i += 1
        word = text[start:i]
        upper = word.upper()
        if upper in _OPERATORS:
            toks.append(_Tok(upper, word, start + 1))
        else:
            toks.append(_Tok("TERM", word, start + 1))
    toks.append(_Tok("END", "", n + 1))
    return toks


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _lex(text)
        self.pos = 0
        self.depth = 0

    def peek(self) -> _Tok:
        return self.toks[self.pos]

    def take(self) -> _Tok:
        tok = self.toks[self.pos]
        self.pos += 1
        return tok

    def parse(self) -> Node:
        node = self.or_expr()
        tok = self.peek()
        if tok.kind == ")":
            raise ValidationError(f"unexpected ')' at {tok.column}: there is no '(' for it to close")
        if tok.kind != "END":  # pragma: no cover - or_expr consumes everything else
            raise ValidationError(f"unexpected {tok.text!r} at {tok.column}")
        return node

    def or_expr(self) -> Node:
        parts = [self.and_expr()]
        while self.peek().kind == "OR":
            self.take()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def and_expr(self) -> Node:
        parts = [self.not_expr()]
        while True:
            kind = self.peek().kind
            if kind == "AND":
                self.take()
                parts.append(self.not_expr())
            elif kind in ("TERM", "NOT", "("):
                parts.append(self.not_expr())  # juxtaposition means AND
            else:
                break
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def not_expr(self) -> Node:
        tok = self.peek()
        if tok.kind == "NOT":
            self.take()
            self._enter(tok)
            inner = self.not_expr()
            self.depth -= 1
            return Not(inner)
        return self.primary()

    def primary(self) -> Node:
        tok = self.take()
        if tok.kind == "TERM":
            return TermNode(parse_term(tok.text, column=tok.column), tok.column)
        if tok.kind == "(":
            self._enter(tok)
            if self.peek().kind == ")":
                raise ValidationError(f"empty parentheses at {tok.column}: put terms inside or remove them")
            node = self.or_expr()
            close = self.take()
            if close.kind != ")":
                raise ValidationError(
                    f"missing ')' to close the '(' at {tok.column}"
                    + (f" (found {close.text!r} at {close.column})" if close.kind != "END" else "")
                )
            self.depth -= 1
            return node
        if tok.kind == "END":
            prev = self.toks[self.pos - 2] if self.pos >= 2 else None
            if prev is not None and prev.kind == "(":
                raise ValidationError(
                    f"missing ')' to close the '(' at {prev.column}: put terms inside and close it"
                )
            if prev is not None and prev.kind in _OPERATORS:
                raise ValidationError(
                    f"{prev.kind} at {prev.column} needs a term after it, e.g. cloud {prev.kind} chips"
                )
            raise ValidationError('the query is empty: write terms such as $NVDA AND "export control"')
        if tok.kind == ")":
            raise ValidationError(f"unexpected ')' at {tok.column}: a term or '(' should come first")
        raise ValidationError(
            f"unexpected {tok.kind} at {tok.column}: a term or '(' should come here, e.g. cloud {tok.kind} chips"
        )

    def _enter(self, tok: _Tok) -> None:
        self.depth += 1
        if self.depth > MAX_QUERY_DEPTH:
            raise ValidationError(
                f"the query nests too deeply at {tok.column} (over {MAX_QUERY_DEPTH} levels)"
            )


def parse_query(text: str) -> Query:
    """Parse a query; raise ValidationError naming the 1-based column of the problem."""
    if len(text) > MAX_QUERY_LENGTH:
        raise ValidationError(f"the query is longer than {MAX_QUERY_LENGTH} characters; split it up")
    root = _Parser(text).parse()
    if evaluate(root, lambda _t: False):
        raise ValidationError(
            "the query matches stories that contain none of its terms (it is all NOT): "
            "add a term that must be present, e.g. cloud AND NOT podcast"
        )
    return Query(text=text, root=root)

"""The symbol directory: which symbols exist and which company names point at them.

Pure: built from ``SymbolName`` records (``bot.market.symbols`` feeds it from the bundled
pytickersymbols index, SEC's company list and quote names kept in the store) plus the curated
brand table and config aliases. Records that share an issuer id (SEC's CIK) or a full name are
one company (GOOGL and GOOG are both "Alphabet Inc."), so a watchlist on either symbol sees
news about the company. Each name gives its variants (``bot.domain.rules.names``: legal forms
dropped, short forms, abbreviations); a variant two companies share goes to the one with the
stronger claim (a config alias, a brand, a company of the bundled index, a fuller form) or,
when neither is stronger, to none. Every dropped variant keeps its reason, for
``marketbot symbols``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from rapidfuzz import fuzz, process

from bot.domain.errors import ValidationError
from bot.domain.rules.brands import BRANDS
from bot.domain.rules.names import company_keys, gate, name_forms, name_variants, needs_caps
from bot.domain.rules.query import canonical_symbol
from bot.domain.rules.tokens import clean_text, word_tokens

__all__ = [
    "Company",
    "DroppedForm",
    "NameForm",
    "NameRefresh",
    "SymbolDirectory",
    "SymbolName",
    "name_forms",
    "name_key",
    "name_shape",
]

_SHAPE_KEEP = str.maketrans("", "", " -.,'\u2019")
GATES = ("distinctive", "an ordinary word or a place: needs context", "a person's name: needs context")


def name_key(name: str) -> tuple[str, ...]:
    """The lower-case words of a name: how the matcher looks it up."""
    return tuple(w.lower() for w in word_tokens(clean_text(name)))


def name_shape(name: str) -> str:
    """The name without spaces, hyphens, dots and apostrophes, lower-cased ("at&t")."""
    return clean_text(name).translate(_SHAPE_KEEP).lower()


@dataclass(frozen=True, slots=True)
class SymbolName:
    """One name a source gives a symbol: ``source`` is "bundled" (pytickersymbols), "sec"
    (SEC's company list), "quote" (the quote source's short and long names); ``ident`` the
    issuer's id at the source (SEC: the CIK), which groups share classes into one company."""

    symbol: str
    name: str
    source: str
    ident: str | None = None


@dataclass(frozen=True, slots=True)
class NameRefresh:
    """When a name source was last asked (``key``: "sec", "quote:NVDA") and what it said."""

    key: str
    checked_at: datetime
    succeeded_at: datetime | None = None
    etag: str | None = None
    last_modified: str | None = None
    status: str = ""


@dataclass(frozen=True, slots=True)
class NameForm:
    """A text that names a company: ``origin`` is the full name (or brand, alias) it comes
    from, ``source`` where that came from, ``how`` the variant was made; ``gate`` says how
    much context it needs (0: none beyond a capital letter; 1: an ordinary word or place; 2: a
    person's name) and ``caps`` that it must be written in capitals (HP, CSX)."""

    text: str
    origin: str
    source: str
    how: str
    gate: int = 0
    caps: bool = False

    def describe(self) -> str:
        """``"Costco" (short form of "COSTCO WHOLESALE CORP /NEW", sec)``."""
        if self.how in ("brand", "alias"):
            return f'"{self.text}" ({self.how})'
        if self.how == "full name":
            return f'"{self.text}" (full name, {self.source})'
        return f'"{self.text}" ({self.how} of "{self.origin}", {self.source})'


@dataclass(frozen=True, slots=True)
class DroppedForm:
    """A variant that does not name the company, and why."""

    text: str
    origin: str
    source: str
    reason: str


@dataclass(frozen=True, slots=True)
class Company:
    """One company: its preferred symbol (reported when the company is named), every
    listing, its names as given (with their sources) and the name forms that detect it.
    ``major``: in the bundled index of well-known companies (its bare symbol is read as a
    ticker anywhere; other symbols need a ticker context such as "(RKLB)" or "RKLB shares")."""

    symbol: str
    symbols: tuple[str, ...]
    names: tuple[str, ...]
    match_names: tuple[str, ...] = ()
    forms: tuple[NameForm, ...] = ()
    dropped: tuple[DroppedForm, ...] = ()
    name_sources: tuple[tuple[str, str], ...] = ()
    major: bool = True


@dataclass(slots=True)
class _Entry:
    symbols: list[str]
    names: list[tuple[str, str]] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    brands: list[str] = field(default_factory=list)
    major: bool = False


class SymbolDirectory:
    """Known symbols and company names; immutable once built."""

    __slots__ = ("_aliases", "_brands", "_by_name", "_by_symbol", "_records", "companies")

    def __init__(
        self,
        companies: Sequence[Company],
        records: Sequence[SymbolName] = (),
        aliases: Mapping[str, Sequence[str]] | None = None,
        brands: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.companies: tuple[Company, ...] = tuple(companies)
        self._records = tuple(records)
        self._aliases = {k: tuple(v) for k, v in (aliases or {}).items()}
        self._brands = {k: tuple(v) for k, v in (BRANDS if brands is None else brands).items()}
        self._by_symbol: dict[str, int] = {}
        self._by_name: dict[tuple[str, ...], int] = {}
        for i, c in enumerate(self.companies):
            for s in c.symbols:
                self._by_symbol.setdefault(s, i)
            for f in c.forms:
                self._by_name.setdefault(name_key(f.text), i)

    @classmethod
    def build(
        cls,
        entries: Iterable[tuple[str, Sequence[str]]],
        aliases: Mapping[str, Sequence[str]] | None = None,
        *,
        brands: Mapping[str, Sequence[str]] | None = None,
    ) -> SymbolDirectory:
        """Build from ``(symbol, names)`` entries of the bundled index (see ``from_records``)."""
        records = [SymbolName(sym, n, "bundled") for sym, names in entries for n in names]
        return cls.from_records(records, aliases, brands=brands if brands is not None else {})

    @classmethod
    def from_records(
        cls,
        records: Iterable[SymbolName],
        aliases: Mapping[str, Sequence[str]] | None = None,
        *,
        brands: Mapping[str, Sequence[str]] | None = None,
    ) -> SymbolDirectory:
        """Build from name records (bundled first: the first symbol of a company is the one
        reported), the brand table (``BRANDS`` unless given; only for known symbols) and
        ``aliases`` (symbol -> extra names; unknown symbols become companies).

        Malformed symbols in records are skipped (library and SEC data are not the user's
        fault); malformed alias symbols raise ValidationError.
        """
        kept: list[SymbolName] = []
        groups: list[_Entry] = []
        by_symbol: dict[str, int] = {}
        by_ident: dict[str, int] = {}
        by_shape: dict[str, int] = {}
        by_key: dict[tuple[str, ...], int] = {}
        has_ident: set[int] = set()
        for rec in records:
            try:
                sym = canonical_symbol(rec.symbol)
            except ValidationError:
                continue
            kept.append(rec)
            shape = name_shape(rec.name)
            ident = f"{rec.source}:{rec.ident}" if rec.ident else None
            idx = by_symbol.get(sym)
            if idx is None and ident is not None:
                idx = by_ident.get(ident)
            if idx is None and ident is None and shape:
                idx = by_shape.get(shape)
            keys = company_keys(rec.name)
            if idx is None and ident is not None and keys:
                # SEC's "Arm Holdings plc /UK" is the bundled index's "ARM Holdings" (ARM.L)
                found = next((by_key[k] for k in sorted(keys) if k in by_key), None)
                if found is not None and found not in has_ident:
                    idx = found
            if idx is None:
                idx = len(groups)
                groups.append(_Entry([]))
            g = groups[idx]
            if sym not in g.symbols:
                g.symbols.append(sym)
            by_symbol.setdefault(sym, idx)
            if ident is not None:
                by_ident.setdefault(ident, idx)
                has_ident.add(idx)
            for k in keys:
                by_key.setdefault(k, idx)
            if shape:
                by_shape.setdefault(shape, idx)
            if rec.name.strip() and (rec.name, rec.source) not in g.names:
                g.names.append((rec.name, rec.source))
            if rec.source == "bundled":
                g.major = True
        brands = BRANDS if brands is None else brands
        for symbol, names in brands.items():
            idx = by_symbol.get(symbol)
            if idx is not None:
                groups[idx].brands.extend(names)
        frozen: dict[str, tuple[str, ...]] = {}
        for symbol, names in (aliases or {}).items():
            sym = canonical_symbol(symbol)
            listed = (names,) if isinstance(names, str) else tuple(names)
            frozen[sym] = frozen.get(sym, ()) + listed
            idx = by_symbol.get(sym)
            if idx is None:
                idx = len(groups)
                groups.append(_Entry([sym]))
                by_symbol[sym] = idx
            for n in listed:
                if not name_key(n):
                    raise ValidationError(f"alias {n!r} for {sym} has no letters or digits")
                groups[idx].aliases.append(n)
        return cls(_resolve(groups), kept, frozen, brands)

    def with_aliases(self, aliases: Mapping[str, Sequence[str]]) -> SymbolDirectory:
        """A copy with extra names for some symbols (unknown symbols become companies)."""
        if not aliases:
            return self
        merged: dict[str, list[str]] = {k: list(v) for k, v in self._aliases.items()}
        for sym, names in aliases.items():
            merged.setdefault(canonical_symbol(sym), []).extend([names] if isinstance(names, str) else names)
        return SymbolDirectory.from_records(self._records, merged, brands=self._brands)

    @property
    def records(self) -> tuple[SymbolName, ...]:
        """The name records this directory was built from."""
        return self._records

    def __contains__(self, symbol: object) -> bool:
        return isinstance(symbol, str) and symbol in self._by_symbol

    def __len__(self) -> int:
        return len(self._by_symbol)

    @property
    def symbols(self) -> frozenset[str]:
        return frozenset(self._by_symbol)

    def company(self, symbol: str) -> Company | None:
        """The company listed under ``symbol`` (canonical form), if known."""
        idx = self._by_symbol.get(symbol)
        return None if idx is None else self.companies[idx]

    def company_index(self, symbol: str) -> int | None:
        return self._by_symbol.get(symbol)

    def lookup_name(self, name: str) -> Company | None:
        """The company a name (as written in text, any case) identifies, if any."""
        idx = self._by_name.get(name_key(name))
        return None if idx is None else self.companies[idx]

    def suggest(self, symbol: str, n: int = 3) -> tuple[str, ...]:
        """Nearest known symbols to a (mistyped or unknown) symbol, best first.

        A company name given as a symbol ("NVIDIA") suggests its symbol first.
        """
        text = symbol.strip().lstrip("$")
        out: list[str] = []
        named = self.lookup_name(text)
        if named is not None:
            out.append(named.symbol)
        up = text.upper()
        pool = self._by_symbol
        # rapidfuzz's ratio is difflib's, computed in C: a config with hundreds of unknown
        # tickers gets its warnings in milliseconds
        close = process.extract(up, pool.keys(), scorer=fuzz.ratio, limit=n + 2, score_cutoff=50)
        for cand, _score, _ in close:
            if cand not in out and cand != up:
                out.append(cand)
        if len(out) < n and up:
            starts = sorted(s for s in pool if s.startswith(up[:2]) and s != up and s not in out)
            out.extend(sorted(starts, key=len)[: n - len(out)])
        return tuple(out[:n])


_PRIORITY_NOTE = {3: "a config alias", 2: "a brand", 1: "a well-known company"}


@dataclass(slots=True)
class _Candidate:
    form: NameForm
    key: tuple[str, ...]
    rank: tuple[int, int, int]  # (alias/brand, well-known company, full form): higher wins


def _candidates(g: _Entry) -> tuple[list[_Candidate], list[DroppedForm]]:
    out: dict[tuple[str, ...], _Candidate] = {}
    dropped: list[DroppedForm] = []
    raw: list[tuple[str, str, str, str, int]] = []  # text, origin, source, how, tier
    raw += [(a, a, "config", "alias", 0) for a in g.aliases]
    raw += [(b.lstrip("?"), b, "brands", "brand", 0) for b in g.brands]
    for name, source in g.names:
        raw += [(v.text, name, source, v.how, v.tier) for v in name_variants(name)]
    for text, origin, source, how, tier in raw:
        key = name_key(text)
        if not key or key in out:
            continue
        level = 3 if how == "alias" else 2 if how == "brand" else 0
        # a curated brand is unambiguous unless marked "?" (an ordinary word: "?Chase")
        g_ = gate(text)
        if how == "brand":
            g_ = max(1, min(g_, 2)) if origin.startswith("?") else 0
        origin = origin.lstrip("?")
        if g_ >= 3 and level < 3:
            dropped.append(DroppedForm(text, origin, source, "too common to name one company alone"))
            continue
        word = key[0] if len(key) == 1 else ""
        if word and len(word) < 3 and not _acronym(text) and level < 3:
            dropped.append(DroppedForm(text, origin, source, "too short to name a company alone"))
            continue
        form = NameForm(text, origin, source, how, min(g_, 2), needs_caps(text, origin))
        out[key] = _Candidate(form, key, (level, int(g.major), int(tier == 0)))
    return list(out.values()), dropped


def _acronym(name: str) -> bool:
    """A two-letter capitals name (HP, BP): usable, but matched only in capitals."""
    return len(name) == 2 and name.isalpha() and name.isupper()


def _resolve(groups: list[_Entry]) -> list[Company]:
    """Give each group its detecting forms; a form two companies claim goes to the stronger
    claim, or to neither when the claims are equal."""
    per_group: list[list[_Candidate]] = []
    drops: list[list[DroppedForm]] = []
    owners: dict[tuple[str, ...], list[tuple[tuple[int, int, int], int]]] = {}
    for i, g in enumerate(groups):
        cands, dropped = _candidates(g)
        per_group.append(cands)
        drops.append(dropped)
        for c in cands:
            owners.setdefault(c.key, []).append((c.rank, i))
    out: list[Company] = []
    for i, g in enumerate(groups):
        keep: list[NameForm] = []
        dropped = drops[i]
        for c in per_group[i]:
            claims = owners[c.key]
            if len(claims) > 1:
                best = max(r for r, _ in claims)
                winners = [j for r, j in claims if r == best]
                if c.rank != best or len(winners) > 1:
                    others = sorted({groups[j].symbols[0] for _, j in claims if j != i})
                    if c.rank == best:
                        why = f"shared with {', '.join(others)} by an equal claim"
                    else:
                        stronger = _PRIORITY_NOTE.get(best[0] if best[0] else best[1], "a fuller name")
                        why = f"taken by {', '.join(others)} ({stronger})"
                    dropped.append(DroppedForm(c.form.text, c.form.origin, c.form.source, why))
                    continue
            keep.append(c.form)
        keep.sort(key=lambda f: (-len(name_key(f.text)), -len(f.text)))
        plain = [s for s in g.symbols if s.isalnum()]
        out.append(
            Company(
                symbol=plain[0] if plain else g.symbols[0],
                symbols=tuple(g.symbols),
                names=tuple(dict.fromkeys(n for n, _ in g.names)),
                match_names=tuple(f.text for f in keep),
                forms=tuple(keep),
                dropped=tuple(dropped),
                name_sources=tuple(g.names),
                major=g.major or not g.names,
            )
        )
    return out

"""The symbol directory: which symbols exist and which company names point at them.

Pure: built from ``(symbol, names)`` entries (``bot.market.symbols`` feeds it from
pytickersymbols plus config aliases). Entries that share a full name are one company
(GOOGL and GOOG are both "Alphabet Inc."), so a watchlist on either symbol sees news about
the company. Names lose their legal suffixes ("Amazon.com Inc." gives "Amazon",
"Alibaba Group Holding Limited" gives "Alibaba"); a short form that is an everyday word
("Target", "Block") or that two companies share is not used on its own, and config
aliases always win.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from bot.domain.errors import ValidationError
from bot.domain.rules.lexicon import AMBIGUOUS_NAMES, _wordlist
from bot.domain.rules.query import canonical_symbol
from bot.domain.rules.tokens import clean_text, word_tokens

# legal-form words (and a few generic business words: Systems, Technologies, Motor, Platforms)
# removed from the end of a name, repeatedly (lower case, dots removed)
_SUFFIXES: Final = _wordlist(
    """inc incorporated corp corporation co company cos companies holding holdings group grp
    plc ltd limited llc lp llp nv sa se ag asa ab oyj spa sas sarl bv kgaa kg gmbh tbk bhd
    pte pty publ reit trust adr ads technologies technology motor motors platforms systems"""
)
_PAREN: Final = re.compile(r"\s*\([^)]*\)")
_CLASS: Final = re.compile(r"\s*[-,]?\s*\b(class|series|cl\.?)\s+[a-z]\b.*$", re.I)
_DOTCOM: Final = re.compile(r"\.(com|net|io|ai)\b", re.I)
_SHAPE_DROP: Final = re.compile(r"[\s\-.,'’]+")


def name_forms(full_name: str) -> tuple[str, ...]:
    """Forms of a company name that identify it in text, longest first.

    "Alibaba Group Holding Limited" -> ("Alibaba Group Holding Limited", "Alibaba Group
    Holding", "Alibaba Group", "Alibaba"); "The Walt Disney Company" -> (..., "Walt Disney").
    """
    name = clean_text(full_name)
    name = _PAREN.sub("", name)
    name = _CLASS.sub("", name)
    name = name.strip(" ,;")
    if not name:
        return ()
    forms: list[str] = [name]
    # split into words keeping the original spelling of each word
    parts = name.split()
    if parts and parts[0].lower() == "the" and len(parts) > 1:
        parts = parts[1:]
        forms.append(" ".join(parts))
    while len(parts) > 1:
        last = parts[-1].strip(",.").lower().replace(".", "")
        if last == "&" or last in _SUFFIXES:
            parts = parts[:-1]
            while parts and parts[-1] in ("&", "and", ","):
                parts = parts[:-1]
            if parts:
                parts[-1] = parts[-1].rstrip(",")
                forms.append(" ".join(parts))
            continue
        break
    out: list[str] = []
    for form in forms:
        form = form.strip(" ,")
        dotless = _DOTCOM.sub("", form)
        for f in (form, dotless):
            if f and f not in out:
                out.append(f)
    return tuple(out)


def name_key(name: str) -> tuple[str, ...]:
    """The lower-case words of a name: how the matcher looks it up."""
    return tuple(w.lower() for w in word_tokens(clean_text(name)))


def name_shape(name: str) -> str:
    """The name without spaces, hyphens, dots and apostrophes, lower-cased ("at&t")."""
    return _SHAPE_DROP.sub("", clean_text(name)).lower()


@dataclass(frozen=True, slots=True)
class Company:
    """One company: its preferred symbol (reported when the company is named), every
    listing, its names as given and the name forms that detect it in text."""

    symbol: str
    symbols: tuple[str, ...]
    names: tuple[str, ...]
    match_names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Entry:
    symbols: list[str]
    names: list[str]
    aliases: list[str]


class SymbolDirectory:
    """Known symbols and company names; immutable once built."""

    __slots__ = ("_by_symbol", "companies")

    def __init__(self, companies: Sequence[Company]) -> None:
        self.companies: tuple[Company, ...] = tuple(companies)
        self._by_symbol: dict[str, int] = {}
        for i, c in enumerate(self.companies):
            for s in c.symbols:
                self._by_symbol.setdefault(s, i)

    @classmethod
    def build(
        cls,
        entries: Iterable[tuple[str, Sequence[str]]],
        aliases: Mapping[str, Sequence[str]] | None = None,
    ) -> SymbolDirectory:
        """Build from ``(symbol, names)`` entries plus ``aliases`` (symbol -> extra names).

        Malformed symbols in ``entries`` are skipped (library data is not the user's fault);
        malformed alias symbols raise ValidationError.
        """
        groups: list[_Entry] = []
        by_symbol: dict[str, int] = {}
        by_name: dict[str, int] = {}
        for symbol, names in entries:
            try:
                sym = canonical_symbol(symbol)
            except ValidationError:
                continue
            keys = [name_shape(n) for n in names if name_shape(n)]
            idx = by_symbol.get(sym)
            if idx is None:
                idx = next((by_name[k] for k in keys if k in by_name), None)
            if idx is None:
                idx = len(groups)
                groups.append(_Entry([], [], []))
            g = groups[idx]
            if sym not in g.symbols:
                g.symbols.append(sym)
            by_symbol.setdefault(sym, idx)
            for n, k in zip(names, keys, strict=False):
                if n not in g.names:
                    g.names.append(n)
                by_name.setdefault(k, idx)
        for symbol, names in (aliases or {}).items():
            sym = canonical_symbol(symbol)
            idx = by_symbol.get(sym)
            if idx is None:
                idx = len(groups)
                groups.append(_Entry([sym], [], []))
                by_symbol[sym] = idx
            for n in [names] if isinstance(names, str) else names:
                if not name_key(n):
                    raise ValidationError(f"alias {n!r} for {sym} has no letters or digits")
                groups[idx].aliases.append(n)
        return cls(_resolve(groups))

    def with_aliases(self, aliases: Mapping[str, Sequence[str]]) -> SymbolDirectory:
        """A copy with extra names for some symbols (unknown symbols become companies)."""
        if not aliases:
            return self
        entries = [(s, c.names) for c in self.companies for s in c.symbols]
        extra = {c.symbol: list(c.match_names) for c in self.companies}
        merged: dict[str, list[str]] = {}
        for sym, names in aliases.items():
            merged.setdefault(canonical_symbol(sym), []).extend([names] if isinstance(names, str) else names)
        # keep names that were already aliases in this directory
        for c in self.companies:
            kept = [n for n in extra[c.symbol] if n not in _derived(c.names)]
            if kept:
                merged.setdefault(c.symbol, []).extend(kept)
        return SymbolDirectory.build(entries, merged)

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
        key = name_key(name)
        for c in self.companies:
            if any(name_key(n) == key for n in c.match_names):
                return c
        return None

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
        pool = list(self._by_symbol)
        for cand in difflib.get_close_matches(up, pool, n=n + 2, cutoff=0.5):
            if cand not in out and cand != up:
                out.append(cand)
        if len(out) < n and up:
            starts = sorted(s for s in pool if s.startswith(up[:2]) and s != up and s not in out)
            out.extend(sorted(starts, key=len)[: n - len(out)])
        return tuple(out[:n])


def _acronym(name: str) -> bool:
    """A two-letter capitals name (HP, BP): usable, but matched only in capitals."""
    return len(name) == 2 and name.isalpha() and name.isupper()


def _derived(names: Iterable[str]) -> set[str]:
    return {f for n in names for f in name_forms(n)}


def _resolve(groups: list[_Entry]) -> list[Company]:
    """Give each group its detecting names: drop everyday words and names two companies share."""
    candidates: list[list[str]] = []
    owners: dict[tuple[str, ...], set[int]] = {}
    alias_owner: dict[tuple[str, ...], int] = {}
    for i, g in enumerate(groups):
        forms: list[str] = []
        for n in g.names:
            for f in name_forms(n):
                key = name_key(f)
                if not key or f in forms:
                    continue
                if len(key) == 1 and (key[0] in AMBIGUOUS_NAMES or (len(key[0]) < 3 and not _acronym(f))):
                    continue
                forms.append(f)
                owners.setdefault(key, set()).add(i)
        candidates.append(forms)
        for a in g.aliases:
            alias_owner[name_key(a)] = i
    out: list[Company] = []
    for i, g in enumerate(groups):
        keep: list[str] = []
        for f in candidates[i]:
            key = name_key(f)
            if key in alias_owner and alias_owner[key] != i:
                continue
            if len(owners[key]) > 1 and alias_owner.get(key) != i:
                continue
            keep.append(f)
        for a in g.aliases:
            if a not in keep:
                keep.append(a)
        out.append(
            Company(
                symbol=g.symbols[0], symbols=tuple(g.symbols), names=tuple(g.names), match_names=tuple(keep)
            )
        )
    return out

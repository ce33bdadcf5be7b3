"""Name variants: the ways news text names a company, generated from its registered names.

``name_variants("COSTCO WHOLESALE CORP /NEW")`` gives "COSTCO WHOLESALE" (state tag and legal
form dropped) and "COSTCO" (a short form: "Wholesale" is a generic industry word and what
remains is distinctive). Case is left as written: the matcher compares words case-insensitively
and decides from the text which capitals it needs (``needs_caps``), so the all-capitals
"COSTCO" of SEC's list finds "Costco" and "COSTCO" alike.

What counts as distinctive, and how an ordinary word is held back, is in ``gate``: a one-word
name that is an everyday English word or a place ("Target", "Amazon") is used only where the
context says "a company" (``bot.domain.rules.context``); a person's name ("Ross") needs that
context everywhere; words that start too many names ("General", "First") never name one alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, Literal

from bot.domain.rules.lexicon import (
    ABBREVIATIONS,
    AMBIGUOUS_NAMES,
    FUNCTION_WORDS,
    INDUSTRY_WORDS,
    LEGAL_SUFFIXES,
    NEVER_ALONE,
    NEVER_PHRASES,
    PERSON_NAMES,
    PLACE_PHRASES,
    PLACES,
    ordinary_words,
)
from bot.domain.rules.tokens import clean_text, word_tokens

How = Literal["full name", "legal form dropped", "short form", "abbreviation"]

_PAREN: Final = re.compile(r"\s*\([^)]*\)")
_CLASS: Final = re.compile(
    r"\s*[-,]?\s*\b(class|series|cl\.?|common stock|ordinary shares|american depositary)\b.*$", re.I
)
# state and status tags SEC appends: "INC /DE/", "CORP /NEW", "TOYOTA MOTOR CORP/", "\DE\"
_TAG: Final = re.compile(r"\s*[/\\]+\s*[A-Za-z]{0,4}\s*[/\\]*\s*$")
_DOTCOM: Final = re.compile(r"\.(com|net|io|ai)\b", re.I)
_SPACES: Final = re.compile(r"\s+")
_COUNTRY_SUFFIX: Final = frozenset({"usa", "us", "america", "international", "intl", "worldwide"})
_NEVER: Final = NEVER_ALONE | AMBIGUOUS_NAMES


@dataclass(frozen=True, slots=True)
class Variant:
    """One way of naming a company: ``text`` as written in its name, ``how`` it was derived and
    ``tier`` (0: the name itself or without legal forms; 1: a shorter form)."""

    text: str
    how: How
    tier: int


def _norm(word: str) -> str:
    return word.strip(",.;:").lower().replace(".", "").replace("/", "")


def _clean(full_name: str) -> str:
    name = clean_text(full_name).replace("\u00a0", " ")
    name = _PAREN.sub("", name)
    name = _CLASS.sub("", name)
    for _ in range(3):
        stripped = _TAG.sub("", name)
        if stripped == name:
            break
        name = stripped
    name = _SPACES.sub(" ", name).strip(" ,;-")
    return name


def _legal_tail(parts: list[str]) -> int:
    """How many words at the end of ``parts`` are legal forms (``N V``, ``S A B DE C V`` too)."""
    n = len(parts)
    i = n
    while i > 1:
        word = _norm(parts[i - 1])
        if word in LEGAL_SUFFIXES or word in ("&", "and", ""):
            i -= 1
            continue
        before = _norm(parts[i - 2]) if i > 2 else ""
        if len(word) == 1 and word.isalpha() and len(before) == 1 and before.isalpha():
            i -= 2  # "A S", "N V": a legal form spelled out in letters
            continue
        if word == "com" and i > 1:
            i -= 1
            continue
        if word in _COUNTRY_SUFFIX and i > 2 and _norm(parts[i - 2]) not in ("of", "&", "and", "for"):
            i -= 1
            continue
        break
    # never leave a dangling "&"/"and"/"of"
    while i > 1 and _norm(parts[i - 1]) in ("&", "and", "of", "the"):
        i -= 1
    return n - i


@lru_cache(maxsize=65_536)
def name_variants(full_name: str) -> tuple[Variant, ...]:
    """Every form of ``full_name`` that identifies the company in text, longest first.

    A name with a trading name after a dash ("PETROLEO BRASILEIRO S.A. - PETROBRAS") gives the
    variants of both parts."""
    parts = [p for p in full_name.split(" - ") if p.strip()]
    head, _, tail = full_name.partition(", ")
    if (
        tail
        and any(_norm(w) not in LEGAL_SUFFIXES for w in _clean(tail).split())
        and len(_clean(tail).split()) > 1
    ):
        parts.append(head)  # "ZIONS BANCORPORATION, NATIONAL ASSOCIATION /UT/"
    if len(parts) > 1:
        out = [v for part in parts for v in _variants(part)]
        unique = {v.text: v for v in reversed(out)}
        return tuple(sorted(unique.values(), key=lambda v: -len(v.text)))
    return _variants(full_name)


def company_keys(full_name: str) -> frozenset[tuple[str, ...]]:
    """The lower-case words of a name's full and distinctive short forms: "TOYOTA MOTOR CORP/"
    and "Toyota" share ("toyota",); two records sharing a key are taken for one company."""
    keys: set[tuple[str, ...]] = set()
    for v in name_variants(full_name):
        if v.how == "abbreviation" or (v.tier == 1 and gate(v.text) != 0):
            continue
        keys.add(tuple(w.lower() for w in word_tokens(v.text)))
    keys.discard(())
    return frozenset(keys)


def _variants(full_name: str) -> tuple[Variant, ...]:
    name = _clean(full_name)
    if not name or not word_tokens(name):
        return ()
    out: list[Variant] = []

    def add(text: str, how: How, tier: int) -> None:
        text = text.strip(" ,;&")
        if not text or not word_tokens(text):
            return
        for form in dict.fromkeys((text, _DOTCOM.sub("", text))):
            if form and all(v.text != form for v in out):
                out.append(Variant(form, how, tier))

    parts = name.split()
    if len(parts) > 1 and parts[0].lower() == "the":
        parts = parts[1:]
    add(" ".join(parts), "full name", 0)
    tail = _legal_tail(parts)
    for cut in range(1, tail + 1):  # every step: "Match Group, Inc." -> "Match Group" -> "Match"
        step = parts[: len(parts) - cut]
        if _norm(step[-1]) in ("&", "and", "of", "the"):
            continue
        add(" ".join([*step[:-1], step[-1].rstrip(",")]), "legal form dropped", 0)
    if tail:
        parts = parts[: len(parts) - tail]
        parts[-1] = parts[-1].rstrip(",")
    # short forms: drop generic industry words at the end while what remains is distinctive
    base = list(parts)
    while len(base) > 1 and _norm(base[-1]) in INDUSTRY_WORDS:
        dropped = _norm(base[-1])
        base = base[:-1]
        while len(base) > 1 and _norm(base[-1]) in ("&", "and", "of", "the", ","):
            base = base[:-1]
        base[-1] = base[-1].rstrip(",")
        abbreviation = ABBREVIATIONS.get(dropped)
        if abbreviation is not None:
            add(" ".join([*base, _cased(abbreviation, base[-1])]), "abbreviation", 1)
        if not distinctive(base):
            break
        add(" ".join(base), "short form", 1)
    out.sort(key=lambda v: -len(v.text))
    return tuple(out)


def _cased(word: str, like: str) -> str:
    return word.upper() if like.isupper() and len(like) > 1 else word


def name_forms(full_name: str) -> tuple[str, ...]:
    """The texts of ``name_variants``, longest first ("Alibaba Group Holding Limited" -> ...
    "Alibaba")."""
    return tuple(v.text for v in name_variants(full_name))


def distinctive(parts: list[str]) -> bool:
    """Whether words left after dropping an industry word still single out one company."""
    words = [w.lower() for p in parts for w in word_tokens(p)]
    if not words:
        return False
    if len(words) == 1:
        w = words[0]
        return len(w) >= 3 and not w.isdigit() and gate_of_word(w) == 0
    if " ".join(words) in PLACE_PHRASES or " ".join(words) in NEVER_PHRASES:
        return False
    return any(len(w) >= 3 and w not in _NEVER and w not in FUNCTION_WORDS and w not in PLACES for w in words)


def gate_of_word(word: str) -> int:
    """0: a distinctive word; 1: an ordinary word or a place; 2: a person's name; 3: never alone."""
    if word in _NEVER:
        return 3
    if word in PERSON_NAMES:
        return 2
    if word in PLACES or word in ordinary_words():
        return 1
    return 0


def common_word(text: str) -> bool:
    """A one-word name that is also an ordinary word or a place ("Amazon", "Shell")."""
    words = word_tokens(clean_text(text))
    return len(words) == 1 and gate_of_word(words[0].lower()) >= 1


def gate(text: str) -> int:
    """How much context a name form needs before it names a company (see ``gate_of_word``).

    Several words are a proper name when written with capitals, which the matcher checks.
    """
    words = [w.lower() for w in word_tokens(clean_text(text))]
    if len(words) != 1:
        if " ".join(words) in NEVER_PHRASES:
            return 3
        return 0 if words and any(w not in FUNCTION_WORDS for w in words) else 3
    return gate_of_word(words[0])


def needs_caps(text: str, source_name: str) -> bool:
    """Whether a form must be written in capitals: a short acronym (HP, CSX) must; a stylised
    name (NVIDIA, or SEC's all-capitals "APPLE INC") may also be written Nvidia, Apple."""
    letters = re.sub(r"[^A-Za-z]", "", text)
    if len(letters) < 2 or not letters.isupper():
        return False
    if len(letters) > 3:
        return False
    source_letters = re.sub(r"[^A-Za-z]", "", source_name)
    shouting = source_letters.isupper() and len(source_letters) > len(letters)
    return not (shouting and letters.lower() in ordinary_words())

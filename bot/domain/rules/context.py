"""Context: whether a word that could name a company does so where it stands.

A company name that is an ordinary word or a place ("Target", "Amazon") names the company
only with a capital letter and where nothing says otherwise:

- in sentence-case text (Reuters headlines, summaries) a capital letter in mid-sentence marks
  a proper noun, unless an article comes first ("the Amazon basin") or the word is part of a
  longer proper name ("the Big Apple", "Ford Foundation");
- at the start of a sentence, and anywhere in a Title Case headline (where every word has a
  capital), it needs a word around it that says "a company": a possessive ("Apple's"), a
  company word or headline verb after it ("Target shares", "Apple unveils", "Gap to close"),
  a cue before it ("rival Target", "shares of Gap"), another company next to it in a list
  ("Apple, Microsoft lead"), or the same company named elsewhere in the story. "Apple Pie
  Sales Soar" has none of these;
- a person's name ("Ross") needs such a cue everywhere.

Symbols get the same kind of check: a symbol of a company outside the bundled index of
well-known companies counts bare only in a ticker context ("(RKLB)", "RKLB shares"); no bare
symbol counts before a transit word ("the PATH train") or as the abbreviation a text defines
for another name ("Commonwealth Bank of Australia (CBA)").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cached_property
from typing import Final

from bot.domain.rules.lexicon import (
    COMPANY_CUES,
    FUNCTION_WORDS,
    NOT_A_COMPANY_NEXT,
    PERSON_NAMES,
    PRE_COMPANY_CUES,
    TRANSIT_WORDS,
    _wordlist,
)
from bot.domain.rules.tokens import _POSSESSIVE, _STEMS, _WORD

_ARTICLES: Final = frozenset({"the", "a", "an"})
_NOT_CUES: Final = frozenset({"price", "target", "rate", "market", "test", "list", "return", "back", "to"})
_NEXT_CUES: Final = frozenset({_STEMS[w] for w in COMPANY_CUES} | COMPANY_CUES) - _NOT_CUES
_PREV_CUES: Final = frozenset({_STEMS[w] for w in PRE_COMPANY_CUES} | PRE_COMPANY_CUES)
# verbs that put a company after them ("Nvidia overtakes Apple"); nouns are left out on purpose
# ("Price Target", "Sales Target" are no companies)
_PREV_VERBS: Final = frozenset(
    _STEMS[w]
    for w in _wordlist(
        """
        overtake overtakes overtook beats tops surpasses passes sues sued buys bought sells sold
        acquires acquired joins joined leaves left hits hit backs backed picks picked dumps dumped
        upgrades upgraded downgrades downgraded initiates initiated trims trimmed adds added
        boosts boosted cuts raises raised lifts lifted lowers lowered rates rated favors prefers
        likes versus vs against
        """
    )
)
_PAIR_CUES: Final = frozenset(
    {
        ("shares", "of"),
        ("stake", "in"),
        ("stock", "of"),
        ("ceo", "of"),
        ("bid", "for"),
        ("offer", "for"),
        ("deal", "with"),
        ("talks", "with"),
        ("investment", "in"),
        ("owner", "of"),
        ("parent", "of"),
    }
)
_STRONG_CUES: Final = frozenset(
    _STEMS[w]
    for w in _wordlist(
        """
        shares share stock stocks inc corp ltd plc ceo cfo chief executive chairman earnings revenue
        revenues sales profit profits results quarterly dividend buyback investors shareholders
        analysts board employees workers stores customers
        """
    )
)
_IN_CUES: Final = frozenset({"talk", "deal", "court", "lawsuit", "disput", "negoti", "merger"})
_TICKER_NEXT: Final = frozenset({"stock", "stocks", "shares", "share", "options", "calls", "puts", "ticker"})
_SENTENCE_END: Final = re.compile(r"[.!?:;|\u2014\u2013]\s*$|\s-\s*$|\n")
_LIST_GAP: Final = re.compile(r"^\s*(?:,|&|/|;)\s*$")
_LIST_WORDS: Final = frozenset({"and", "or", "vs", "versus", "plus", "nor"})
_SPACE: Final = re.compile(r"^\s+$")


class FieldView:
    """One field of a story (title or summary), read for context only when a hit needs it."""

    __slots__ = ("__dict__", "text", "toks")

    def __init__(self, text: str, toks: list[str]) -> None:
        self.text = text
        self.toks = toks

    @cached_property
    def _marked(self) -> str:
        # possessives become \x00: tokens stay aligned with word_tokens and the mark is visible
        return _POSSESSIVE.sub("\x00", self.text) if "'" in self.text else self.text

    @cached_property
    def spans(self) -> list[tuple[int, int]]:
        spans = [m.span() for m in _WORD.finditer(self._marked)]
        return spans if len(spans) == len(self.toks) else []

    def gap_before(self, i: int) -> str:
        spans = self.spans
        if not spans or i <= 0 or i > len(spans):
            return "" if i <= 0 else " "
        return self._marked[spans[i - 1][1] : spans[i][0]]

    def gap_after(self, i: int) -> str:
        """The characters between token ``i`` and the next (possessive marked as \\x00)."""
        spans = self.spans
        if not spans or i >= len(spans) - 1:
            return self._marked[spans[i][1] :] if spans and i < len(spans) else ""
        return self._marked[spans[i][1] : spans[i + 1][0]]

    @cached_property
    def title_case(self) -> bool:
        """Most content words capitalised (a Title Case headline), or too few words to tell."""
        upper = lower = 0
        for t in self.toks[1:]:
            if len(t) < 3 or not t.isalpha() or t.isupper() or t.lower() in FUNCTION_WORDS:
                continue
            if t[0].isupper():
                upper += 1
            else:
                lower += 1
        return upper + lower == 0 or upper >= 0.6 * (upper + lower)

    def sentence_start(self, i: int) -> bool:
        if i == 0:
            return True
        gap = self.gap_before(i)
        return bool(_SENTENCE_END.search(gap)) or gap.strip() in ('"', "'", "(")


def _stem(word: str) -> str:
    return _STEMS[word.lower()]


def judge_name(
    view: FieldView,
    idx: int,
    n: int,
    gate: int,
    *,
    company_at: Callable[[int], bool],
) -> str | None:
    """None when the name at tokens ``idx``..``idx+n-1`` names its company; else why not.

    ``company_at(i)`` says whether token ``i`` is part of another company mention (lists).
    Confirmation by another mention of the same company is the caller's.
    """
    toks = view.toks
    end = idx + n - 1
    prev = toks[idx - 1] if idx > 0 else ""
    nxt = toks[end + 1] if end + 1 < len(toks) else ""
    gap_b = view.gap_before(idx) if prev else ""
    gap_a = view.gap_after(end)
    plain_b = bool(prev) and bool(_SPACE.match(gap_b))
    if plain_b and prev.lower() in _ARTICLES:
        return f'"{prev} {toks[idx]}" reads as an ordinary noun, not the company'
    if gap_a.startswith("\x00"):
        return None  # possessive: "Apple's", "Target's"
    plain_a = bool(nxt) and bool(_SPACE.match(gap_a))
    after = toks[end + 2] if end + 2 < len(toks) else ""
    if plain_b and prev.lower() in PERSON_NAMES and prev[:1].isupper():
        return f'part of a person\'s name, "{prev} {toks[idx]}"'
    # "Mississippi River Delta Is", "Price Target Raised": a capitalised word before makes a
    # compound that only a company noun after it ("Target shares") can break
    compound = (
        plain_b
        and prev[:1].isupper()
        and prev.lower() not in FUNCTION_WORDS
        and _stem(prev) not in _PREV_CUES
        and _stem(prev) not in _PREV_VERBS
        and not company_at(idx - 1)
        and (view.title_case or not view.sentence_start(idx - 1))
    )
    if compound:
        if plain_a and _stem(nxt) in _STRONG_CUES:
            return None
        return f'part of the name "{prev} {" ".join(toks[idx : end + 1])}"'
    if plain_a and nxt.lower() == "to":
        # "Apple to buy", not "a toast to the bull market"
        if after and after.lower() not in FUNCTION_WORDS and not after[:1].isdigit():
            return None
    elif plain_a and (_stem(nxt) in _NEXT_CUES or nxt.lower() in _NEXT_CUES or _quarter(nxt)):
        return None
    if plain_a and nxt.lower() == "in" and after and _stem(after) in _IN_CUES:
        return None  # "Apple in talks", "Target in deal"
    if nxt and gap_a.strip() == "(" and nxt.isupper():
        return None  # "Target (TGT)"
    if _listed(view, idx, end, company_at):
        return None
    if plain_b and (prev.lower() in _PREV_CUES or _stem(prev) in _PREV_CUES or _stem(prev) in _PREV_VERBS):
        return None
    if idx >= 2 and plain_b and (toks[idx - 2].lower(), prev.lower()) in _PAIR_CUES:
        return None
    what = "a person's name" if gate >= 2 else "an ordinary word or a place"
    if gate == 1 and not view.title_case and not view.sentence_start(idx):
        # a capital in mid-sentence: a proper noun, unless part of a longer one
        if plain_b and prev[:1].isupper() and prev.lower() not in FUNCTION_WORDS:
            return f'part of the name "{prev} {" ".join(toks[idx : end + 1])}"'
        if plain_a and nxt[:1].isupper() and nxt.lower() not in FUNCTION_WORDS and not nxt.isupper():
            return f'part of the name "{" ".join(toks[idx : end + 1])} {nxt}"'
        return None
    where = "in a Title Case headline" if view.title_case else "at the start of a sentence"
    if gate >= 2:
        where = "here"
    return f'{what} {where}, with nothing around it that says "a company"'


def _listed(view: FieldView, idx: int, end: int, company_at: Callable[[int], bool]) -> bool:
    """Next to another company in a list: "Apple, Microsoft", "Shell and BP", "Ford vs. GM"."""
    toks = view.toks
    if end + 1 < len(toks):
        gap = view.gap_after(end)
        if _LIST_GAP.match(gap) and company_at(end + 1):
            return True
        if (
            _SPACE.match(gap)
            and toks[end + 1].lower() in _LIST_WORDS
            and end + 2 < len(toks)
            and company_at(end + 2)
        ):
            return True
    if idx > 0:
        gap = view.gap_before(idx)
        if _LIST_GAP.match(gap) and company_at(idx - 1):
            return True
        if _SPACE.match(gap) and toks[idx - 1].lower() in _LIST_WORDS and idx >= 2 and company_at(idx - 2):
            return True
    return False


def disqualified(view: FieldView, idx: int, n: int, *, place: bool) -> str | None:
    """Why a one-word name is the ordinary thing here ("Amazon basin", "the Amazon"), if it is."""
    toks = view.toks
    end = idx + n - 1
    if (
        end + 1 < len(toks)
        and toks[end + 1].lower() in NOT_A_COMPANY_NEXT
        and _SPACE.match(view.gap_after(end))
    ):
        return f'"{toks[end]} {toks[end + 1]}" is the ordinary thing, not the company'
    if place and idx > 0 and toks[idx - 1].lower() == "the" and _SPACE.match(view.gap_before(idx)):
        return f'"the {toks[idx]}" is the place, not the company'
    return None


def runs_on(view: FieldView, idx: int, n: int, *, company_at: Callable[[int], bool]) -> str | None:
    """Why a short form ("Oxford" of Oxford Industries) is part of a longer name here
    ("Oxford Ionics", "Simon Trott"), if it is: a capitalised word follows that says nothing
    of a company."""
    toks = view.toks
    end = idx + n - 1
    if end + 1 >= len(toks):
        return None
    nxt = toks[end + 1]
    if not nxt[:1].isupper() or nxt.isupper() or nxt.lower() in FUNCTION_WORDS or company_at(end + 1):
        return None
    if not _SPACE.match(view.gap_after(end)):
        return None
    if _stem(nxt) in _NEXT_CUES or nxt.lower() in _NEXT_CUES or _quarter(nxt):
        return None
    return f'part of a longer name, "{" ".join(toks[idx : end + 2])}"'


def _quarter(word: str) -> bool:
    w = word.upper()
    return bool(re.fullmatch(r"Q[1-4]|FY\d{0,4}|[1-4]Q\d{0,4}|H[12]", w))


def judge_symbol(
    view: FieldView, idx: int, *, needs_ticker_context: bool, names: Callable[[str], bool]
) -> str | None:
    """None when the bare symbol at token ``idx`` is a ticker; else why not.

    ``names(text)`` says whether ``text`` is a name of the symbol's own company (so that
    "Advanced Micro Devices (AMD)" is not taken for an abbreviation being defined).
    """
    toks = view.toks
    sym = toks[idx]
    nxt = toks[idx + 1] if idx + 1 < len(toks) else ""
    gap_a = view.gap_after(idx)
    gap_b = view.gap_before(idx) if idx > 0 else ""
    if nxt and _SPACE.match(gap_a) and nxt.lower() in TRANSIT_WORDS:
        return f'"{sym} {nxt}" is a transit line or service, not the ticker'
    in_parens = gap_b.rstrip().endswith("(")
    if in_parens and idx > 0:
        words = [t for t in toks[max(0, idx - len(sym) - 3) : idx] if t.lower() not in FUNCTION_WORDS]
        initials = "".join(t[0] for t in words[-len(sym) :]).upper() if len(words) >= len(sym) else ""
        if initials == sym and all(t[:1].isupper() for t in words[-len(sym) :]):
            spelled = " ".join(toks[idx - _back(toks, idx, len(sym)) : idx])
            if not names(spelled):
                return f'"{sym}" abbreviates "{spelled}" here, not the ticker'
    if not needs_ticker_context:
        return None
    if in_parens or gap_a.lstrip().startswith(")"):
        return None
    if nxt and _SPACE.match(gap_a) and nxt.lower() in _TICKER_NEXT:
        return None
    if idx >= 2 and (toks[idx - 2].lower(), toks[idx - 1].lower()) in _PAIR_CUES:
        return None
    return "a lesser-known symbol needs a ticker context here, like (SYM) or SYM shares"


def _back(toks: list[str], idx: int, letters: int) -> int:
    """How many tokens before ``idx`` spell ``letters`` initials (function words included)."""
    count = taken = 0
    i = idx - 1
    while i >= 0 and taken < letters:
        count += 1
        if toks[i].lower() not in FUNCTION_WORDS:
            taken += 1
        i -= 1
    return count

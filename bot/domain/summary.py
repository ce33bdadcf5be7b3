"""Chat summaries: feed boilerplate removed, cut at a sentence boundary, never the title again.

Feeds pad their descriptions with "The post … appeared first on …", "Continue reading",
"Read more" and a repeat of the headline. A chat alert has room for a short lead only, so
the summary is the first sentences that fit, else the first words with an ellipsis.
"""

from __future__ import annotations

import re

from rapidfuzz import fuzz

from bot.domain.stories import normalize_title
from bot.domain.text import collapse_whitespace

ELLIPSIS = "…"

# (cheap lower-case triggers, the lower-case words the pattern starts with, the pattern without
# the leading ``\s*`` that takes the spaces before it along): a pattern runs only when one of
# its triggers occurs
_BOILERPLATE_PARTS: list[tuple[tuple[str, ...], tuple[str, ...], str, re.RegexFlag]] = [
    # WordPress: "The post <title> appeared first on <site>."
    (
        ("appeared first on",),
        ("the post",),
        r"The post\s.{1,400}?\sappeared first on\s[^\n]{1,200}?\s*$",
        re.I | re.S,
    ),
    (
        ("appeared first on",),
        ("the post",),
        r"The post\s.{1,400}?\sappeared first on\s.{1,200}?(?:\.\s|$)",
        re.I | re.S,
    ),
    (
        ("this article", "this story", "this post"),
        ("this ",),
        r"This (?:article|story|post) (?:was )?(?:originally )?(?:appeared|published) (?:first )?on"
        r"\s.{1,200}?(?:\.|$)",
        re.I | re.S,
    ),
    (
        ("reading",),
        ("continue", "keep"),
        r"(?:Continue|Keep) reading(?:\s*(?:\.{3}|…|»|→|>>|the (?:full )?(?:story|article)"
        r"(?: at [^.]{1,80})?))?\s*[.»→]*",
        re.I,
    ),
    (
        ("read more", "read the"),
        ("read ",),
        r"Read (?:more|the (?:full|rest of the) (?:story|article|post))(?:\s+(?:at|on)\s[^.]{1,80})?"
        r"\s*(?:\.{3}|…|»|→|>>)?\s*\.?",
        re.I,
    ),
    (("here to",), ("click", "tap"), r"(?:Click|Tap) here to (?:read|continue|view)[^.]{0,80}\.?", re.I),
    (("[",), ("[",), r"\[(?:…|\.\.\.|&hellip;)\]", re.I),
    (
        (" here", " online"),
        ("view", "read"),
        r"(?:View|Read) (?:the )?(?:full )?(?:article|story) (?:here|online)\.?",
        re.I,
    ),
    (
        ("newsletter",),
        ("subscribe", "sign up"),
        r"(?:Subscribe|Sign up) (?:now )?(?:to|for) (?:our|the) [^.]{0,60}newsletter[^.]{0,80}\.?",
        re.I,
    ),
]


class _Boilerplate:
    r"""A boilerplate pattern ``\s*<core>``, removed from a text (``remove``) like ``re.sub``."""

    __slots__ = ("core", "pattern", "starts", "triggers")

    def __init__(self, triggers: tuple[str, ...], starts: tuple[str, ...], core: str, flags: re.RegexFlag):
        self.triggers = triggers
        self.starts = starts
        self.core = re.compile(core, flags)
        self.pattern = re.compile(r"\s*" + core, flags)

    def remove(self, text: str) -> str:
        r"""``self.pattern.sub("", text)``, for ASCII text by trying the core only where one of
        its lower-case ``starts`` occurs.

        A match of ``\s*<core>`` is the core's match at the leftmost place it matches, with the
        spaces right before it (the core starts with a letter or a bracket, never a space); in
        ASCII text, case-insensitive matching is ``lower()`` and the places it can start are the
        occurrences of ``starts`` there. Other text (where case folding may match characters
        outside ASCII) takes the regular expression over the whole text.
        """
        if not text.isascii():
            return self.pattern.sub("", text)
        low = text.lower()
        starts, match = self.starts, self.core.match
        out: list[str] = []
        pos = 0
        at = _first(low, starts, 0)
        while at >= 0:
            m = match(text, at)
            if m is None:
                at = _first(low, starts, at + 1)
                continue
            start = at
            while start > pos and text[start - 1].isspace():
                start -= 1
            out.append(text[pos:start])
            pos = m.end()
            at = _first(low, starts, pos)
        if not out:
            return text
        out.append(text[pos:])
        return "".join(out)


def _first(low: str, words: tuple[str, ...], pos: int) -> int:
    """Where the first of ``words`` occurs in ``low`` from ``pos`` on (-1: none does)."""
    best = -1
    for word in words:
        at = low.find(word, pos)
        if at >= 0 and (best < 0 or at < best):
            best = at
    return best


_BOILERPLATE = [_Boilerplate(*parts) for parts in _BOILERPLATE_PARTS]

# A sentence ends at . ! or ? (optionally followed by a closing quote or bracket) and a space.
_SENTENCE_END = re.compile(r"[.!?…][\"')\]’”]*\s+(?=[\"'(\[‘“]?[A-Z0-9$])")
_ABBREVIATION = re.compile(
    r"(?:\b(?:[A-Z]|Mr|Mrs|Ms|Dr|Prof|Sen|Rep|Gov|Gen|Lt|Col|St|Jr|Sr|Inc|Corp|Co|Ltd|Plc|"
    r"vs|etc|No|Nos|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|approx|est)\.)$"
    r"|(?:\b(?:[A-Z]\.){2,})$"
)


def strip_boilerplate(text: str) -> str:
    """Remove feed boilerplate ("The post … appeared first on …", "Continue reading", "Read more")."""
    if not text:
        return ""
    low = text.lower()
    for pattern in _BOILERPLATE:
        for trigger in pattern.triggers:  # (loops, not any(): a generator per pattern costs more)
            if trigger in low:
                text = pattern.remove(text)
                break
    return collapse_whitespace(text).rstrip(" -–—|:")


def _sentence_ends(text: str) -> list[int]:
    """Offsets just after each sentence end, skipping abbreviations such as "U.S." and "Inc."."""
    ends = []
    for m in _SENTENCE_END.finditer(text):
        head = text[: m.start() + 1]
        if text[m.start()] == "." and _ABBREVIATION.search(head[-12:]):
            continue
        ends.append(m.end())
    return ends


def _drop_title(text: str, title: str, norm_title: str) -> str:
    """Remove a leading repeat of the title from the summary."""
    if not norm_title:
        return text
    if text.lower().startswith(title.lower()):
        return text[len(title) :].lstrip(" .:-–—|")
    # A first sentence that is the title in other punctuation
    ends = _sentence_ends(text[: 2 * len(title) + 40] + " X")
    first = text[: ends[0]].strip() if ends else text
    if first and normalize_title(first) == norm_title:
        return text[len(first) :].strip()
    return text


def summarize(text: str, *, title: str = "", limit: int = 280) -> str:
    """A plain-text summary of at most ``limit`` characters for a chat alert.

    ``text`` is already plain text (see ``bot.domain.text.html_to_text``). Boilerplate and a
    leading repeat of the title go; whole sentences are kept while they fit, else the text is
    cut at a word with "…". Returns "" when nothing but the title would remain.
    """
    text = strip_boilerplate(text)
    norm_title = normalize_title(title) if title else ""
    text = _drop_title(text, title, norm_title)
    if not text:
        return ""
    if (
        norm_title
        and len(text) <= 2 * len(title) + 10
        and fuzz.ratio(normalize_title(text), norm_title) >= 90
    ):
        return ""
    if len(text) <= limit:
        return text
    best = 0
    for end in _sentence_ends(text[: limit + 2]):
        candidate = text[:end].rstrip()
        if len(candidate) > limit:
            break
        best = len(candidate)
    if best >= min(60, limit // 3):
        return text[:best]
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-–—([{\"'") + ELLIPSIS

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

# (cheap lower-case triggers, pattern): a pattern runs only when one of its triggers occurs
_BOILERPLATE: list[tuple[tuple[str, ...], re.Pattern[str]]] = [
    # WordPress: "The post <title> appeared first on <site>."
    (
        ("appeared first on",),
        re.compile(r"\s*The post\s.{1,400}?\sappeared first on\s[^\n]{1,200}?\s*$", re.I | re.S),
    ),
    (
        ("appeared first on",),
        re.compile(r"\s*The post\s.{1,400}?\sappeared first on\s.{1,200}?(?:\.\s|$)", re.I | re.S),
    ),
    (
        ("this article", "this story", "this post"),
        re.compile(
            r"\s*This (?:article|story|post) (?:was )?(?:originally )?(?:appeared|published) (?:first )?on"
            r"\s.{1,200}?(?:\.|$)",
            re.I | re.S,
        ),
    ),
    (
        ("reading",),
        re.compile(
            r"\s*(?:Continue|Keep) reading(?:\s*(?:\.{3}|…|»|→|>>|the (?:full )?(?:story|article)"
            r"(?: at [^.]{1,80})?))?\s*[.»→]*",
            re.I,
        ),
    ),
    (
        ("read more", "read the"),
        re.compile(
            r"\s*Read (?:more|the (?:full|rest of the) (?:story|article|post))(?:\s+(?:at|on)\s[^.]{1,80})?"
            r"\s*(?:\.{3}|…|»|→|>>)?\s*\.?",
            re.I,
        ),
    ),
    (("here to",), re.compile(r"\s*(?:Click|Tap) here to (?:read|continue|view)[^.]{0,80}\.?", re.I)),
    (("[",), re.compile(r"\s*\[(?:…|\.\.\.|&hellip;)\]", re.I)),
    (
        (" here", " online"),
        re.compile(r"\s*(?:View|Read) (?:the )?(?:full )?(?:article|story) (?:here|online)\.?", re.I),
    ),
    (
        ("newsletter",),
        re.compile(
            r"\s*(?:Subscribe|Sign up) (?:now )?(?:to|for) (?:our|the) [^.]{0,60}newsletter[^.]{0,80}\.?",
            re.I,
        ),
    ),
]

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
    for triggers, pattern in _BOILERPLATE:
        if any(t in low for t in triggers):
            text = pattern.sub("", text)
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

"""Words as the rule engine sees them: normalised text, word tokens and English stems.

Hyphens, slashes and all punctuation separate words ("export-control" is two words), a
possessive ``'s`` is dropped ("Nvidia's" is "Nvidia"), other apostrophes join ("don't" is
"dont"), and stems come from the Snowball English stemmer, so "controls", "recalled" and
"deliveries" meet "control", "recall" and "delivery". Story text and rule terms go through
the same functions, which is what makes them comparable.
"""

from __future__ import annotations

import re
from typing import Final

import snowballstemmer

from bot.domain.text import html_to_text

# letters and digits (any script), optionally joined by apostrophes; "_" separates words
_WORD: Final = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
# both start with the apostrophe (the character before it is checked by a lookbehind after it),
# so the regex engine jumps from apostrophe to apostrophe instead of trying every position
_POSSESSIVE: Final = re.compile(r"'(?<=[\w.]')[sS]?(?![^\W_])")
_STEM_CACHE_LIMIT: Final = 200_000
# markup or a character reference (html.unescape also knows legacy names without ";")
_MARKUP: Final = re.compile(r"<[A-Za-z/!?]|&(?:#[0-9xX]|[A-Za-z][A-Za-z0-9]{1,31};?)")
# characters normalize_for_matching maps: typographic quotes to ASCII, zero-width ones dropped
_ODD_MAP: Final = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201b": "'",
    "\u2032": "'",
    "\u201c": '"',
    "\u201d": '"',
    **dict.fromkeys("\u200b\u200c\u200d\u2060\ufeff\u00ad", ""),
}
_ODD: Final = re.compile("[" + "".join(_ODD_MAP) + "]")
# ASCII text: ``[^\W_]`` is exactly [A-Za-z0-9], so every other byte separates words and
# bytes.translate + split (C, no regex) gives the same words as ``_WORD.findall``
_ASCII_SEPARATORS: Final = bytes(c if chr(c).isalnum() else 32 for c in range(128)) + b" " * 128
# an apostrophe between two letters or digits joins them ("don't" is "dont"), as in _WORD
_ASCII_JOIN: Final = re.compile(r"'(?<=[A-Za-z0-9]')(?=[A-Za-z0-9])")


class _StemCache(dict[str, str]):
    """A bounded memo of ``stemWord`` (the stemmer is pure Python and the hot spot)."""

    def __init__(self) -> None:
        super().__init__()
        self._stemmer = snowballstemmer.stemmer("english")

    def __missing__(self, word: str) -> str:
        stem: str = self._stemmer.stemWord(word)
        if len(self) < _STEM_CACHE_LIMIT:
            self[word] = stem
        return stem


_STEMS: Final = _StemCache()


def clean_text(text: str, *, html: bool = False) -> str:
    """What the matcher reads: HTML and entities decoded, typographic quotes made plain.

    Gives the same words as ``normalize_for_matching(html_to_text(text))`` but skips the
    work plain text does not need (most stories): the HTML parser runs only when there is
    markup or an entity, and Unicode spaces are left alone because the tokenizer and the
    ticker patterns already treat them as spaces.
    """
    if html and ("<" in text or "&" in text) and _MARKUP.search(text):
        text = html_to_text(text)
    if not text.isascii() and _ODD.search(text):
        text = _ODD.sub(_odd, text)
    return text


def _odd(m: re.Match[str]) -> str:
    return _ODD_MAP[m.group()]


def word_tokens(text: str) -> list[str]:
    """Words of ``text`` in their original case, possessives dropped, apostrophes joined."""
    if text.isascii():
        if "'" in text:
            text = _ASCII_JOIN.sub("", _POSSESSIVE.sub("", text))
        return text.encode("ascii").translate(_ASCII_SEPARATORS).decode("ascii").split()
    if "'" not in text:
        return _WORD.findall(text)
    text = _POSSESSIVE.sub("", text)
    return [w.replace("'", "") if "'" in w else w for w in _WORD.findall(text)]


def words(text: str) -> list[str]:
    """Lower-case words of ``text`` (for keywords and exact forms)."""
    return word_tokens(text.lower())


def stem(word: str) -> str:
    """The English stem of a lower-case word ("deliveries" -> "deliveri")."""
    return _STEMS[word]


def stems(lower_words: list[str]) -> list[str]:
    """Stems of lower-case words, memoised."""
    return list(map(_STEMS.__getitem__, lower_words))

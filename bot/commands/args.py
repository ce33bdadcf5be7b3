"""Splitting what a user typed after a slash command into arguments, shell-style but forgiving.

Chat text is not a shell: phones and Slack turn ``"`` into ``“ ”`` and ``'`` into ``‘ ’``,
apostrophes appear inside words ("Nvidia's"). (Slack's ``&amp;``/``&lt;``/``&gt;`` escaping is
undone by the Slack adapter before the text gets here.) The rules here:

- Arguments are separated by any Unicode whitespace (non-breaking spaces included).
- A quote opens a quoted argument only where an argument starts (``'cloud'``, ``“export control”``),
  optionally after a ``-`` or ``=`` marker (``-"press release"``, ``="cloud"``). Any double
  quote (``" “ ” „``) closes a double-quoted argument and any single quote (``' ‘ ’``) a
  single-quoted one; the other kind is literal inside. There are no backslash escapes.
- Inside a bare argument quotes are literal, so ``Nvidia's`` and ``don’t`` stay one word.
- An unclosed quote is a ``CommandError`` that says where it opened; nothing else is raised.

Tokens carry their character span so a grammar can take the raw rest of the line (a query).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from bot.domain.errors import CommandError

DOUBLE_QUOTES: Final = frozenset('"“”„‟″〝〞＂')
SINGLE_QUOTES: Final = frozenset("'‘’‚‛′＇")
QUOTES: Final = DOUBLE_QUOTES | SINGLE_QUOTES
MARKERS: Final = "-="
# invisible characters some clients insert (zero-width space, word joiner, BOM)
_INVISIBLE: Final = re.compile("[\u200b\u2060\ufeff]")


@dataclass(frozen=True, slots=True)
class Token:
    """One argument: its text without quotes, whether it was quoted and where it was.

    ``marker`` is a ``-`` or ``=`` written right before an opening quote; for bare tokens
    it stays part of ``text``. ``start``/``end`` index the normalised input.
    """

    text: str
    quoted: bool = False
    marker: str = ""
    start: int = 0
    end: int = 0

    @property
    def shown(self) -> str:
        """The argument as the user wrote it (with plain quotes when it was quoted)."""
        return f'{self.marker}"{self.text}"' if self.quoted else self.text


def normalize(text: str) -> str:
    """Drop invisible characters some clients insert and make line ends plain."""
    text = _INVISIBLE.sub("", text)
    return text.replace("\r\n", "\n")


def _closes(opener: str, char: str) -> bool:
    return char in (DOUBLE_QUOTES if opener in DOUBLE_QUOTES else SINGLE_QUOTES)


def iter_tokens(text: str, start: int = 0) -> Iterator[Token]:
    """Yield arguments lazily from ``text[start:]``; raise CommandError on an unclosed quote.

    Lazy on purpose: a grammar can read the first arguments and take the raw rest of the
    line (a query may contain quotes that are not balanced as arguments would need).
    """
    i, n = start, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        begin = i
        marker = ""
        j = i
        while j < n and j - i < 2 and text[j] in MARKERS:
            j += 1
        if j < n and text[j] in QUOTES and (j == i or text[i:j] in ("-", "=", "-=")):
            marker, opener = text[i:j], text[j]
            k = j + 1
            while k < n and not _closes(opener, text[k]):
                k += 1
            if k >= n:
                raise CommandError(
                    f"the quote {opener} at character {j + 1} is never closed: "
                    f'add the closing quote, e.g. "export control"'
                )
            i = k + 1
            yield Token(text=text[j + 1 : k], quoted=True, marker=marker, start=begin, end=i)
            continue
        while i < n and not text[i].isspace():
            i += 1
        yield Token(text=text[begin:i], start=begin, end=i)


def tokenize(text: str) -> list[Token]:
    """Every argument in ``text`` (see the module docstring for the rules)."""
    return list(iter_tokens(text))


def _is_apostrophe(text: str, i: int) -> bool:
    """A single quote between two letters or digits (``Nvidia's``, ``don’t``) is not a quote."""
    return 0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum()


def unwrap_quotes(text: str) -> str:
    """Drop one pair of single quotes around the whole of ``text`` (``'<query>'``), if present.

    Only when the quote that closes the first one is the last character: in
    ``'export control' OR 'chips'`` the quotes are two phrases, not a wrapper. Double quotes
    are kept: ``"export control"`` alone is a phrase, not two words.
    """
    t = text.strip()
    if len(t) < 2 or t[0] not in SINGLE_QUOTES:
        return t
    close = next((i for i in range(1, len(t)) if t[i] in SINGLE_QUOTES and not _is_apostrophe(t, i)), None)
    if close == len(t) - 1:
        return t[1:-1].strip()
    return t


def plain_quotes(text: str) -> str:
    """Typographic double quotes made plain (``“export control”`` -> ``"export control"``)."""
    return "".join('"' if ch in DOUBLE_QUOTES else ch for ch in text)


_SQ: Final = re.escape("".join(sorted(SINGLE_QUOTES)))
_SINGLE_QUOTED: Final = re.compile(rf"(?<![\w\"])[{_SQ}]([^\"{_SQ}]+?)[{_SQ}](?![\w\"])")


def query_text(text: str) -> str:
    """The query a user typed, in the rule language's quoting.

    Drops a wrapping pair of single quotes (``'<query>'``), makes typographic double quotes
    plain, and turns single-quoted phrases into double-quoted ones (``'export control'``
    becomes ``"export control"``); apostrophes inside words are left alone.
    """
    t = plain_quotes(unwrap_quotes(text))
    return _SINGLE_QUOTED.sub(lambda m: f'"{m.group(1)}"', t)

"""Plain text from feed HTML: entities decoded, tags and scripts dropped, whitespace collapsed."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

_BLOCK_TAGS = frozenset(
    [
        "p",
        "div",
        "br",
        "li",
        "ul",
        "ol",
        "tr",
        "td",
        "th",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "section",
        "article",
        "header",
        "footer",
        "table",
        "pre",
        "hr",
    ]
)
_SKIP_TAGS = frozenset(
    {"script", "style", "noscript", "template", "iframe", "object", "svg", "head", "title"}
)
# zero-width characters and soft hyphens vanish
_INVISIBLE_CHARS = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
_TYPOGRAPHIC = str.maketrans(
    {"\u2018": "'", "\u2019": "'", "\u201b": "'", "\u2032": "'", "\u201c": '"', "\u201d": '"'}
)


class _Extractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt and not self._skip:
                self.parts.append(f" {alt} ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


_SPACE = "[ \t\n\r\f]"
# A tag of the plain markup most feed descriptions use: a name, quoted attributes, an optional
# self-closing slash. Anything else (comments, unquoted or odd attributes, a stray "<") makes
# ``_simple_text`` give up and the HTMLParser read the fragment.
_SIMPLE_TAG = re.compile(
    rf"<(/?)([a-zA-Z][a-zA-Z0-9]*)((?:{_SPACE}+[a-zA-Z_:][-a-zA-Z0-9_:.]*"
    rf"""(?:{_SPACE}*={_SPACE}*(?:"[^"<>]*"|'[^'<>]*'))?)*){_SPACE}*(/?)>"""
)


def _simple_text(value: str) -> str | None:
    """What ``_Extractor`` makes of ``value`` when it is plain markup (see ``_SIMPLE_TAG``), else None.

    The same pieces in the same order: text between tags with its character references
    decoded, a line break for each block tag. Tags whose handling depends on attributes or
    on their content (``img``, ``script``, ``style`` and the other skipped elements) are left
    to the parser.
    """
    parts: list[str] = []
    pos = 0
    for m in _SIMPLE_TAG.finditer(value):
        start = m.start()
        if start > pos:
            text = value[pos:start]
            if "<" in text:
                return None
            parts.append(html.unescape(text))
        closing, name, attrs, slash = m.groups()
        name = name.lower()
        if name in _SKIP_TAGS or name == "img" or (closing and (attrs or slash)):
            return None
        if name in _BLOCK_TAGS:
            parts.append("\n")
        pos = m.end()
    if pos < len(value):
        text = value[pos:]
        if "<" in text:
            return None
        parts.append(html.unescape(text))
    return "".join(parts)


def _parsed_text(value: str) -> str:
    """The text of an HTML fragment as the HTMLParser-based ``_Extractor`` reads it."""
    parser = _Extractor()
    try:
        parser.feed(value)
        parser.close()
        return "".join(parser.parts)
    except (AssertionError, ValueError):  # pathological markup: fall back to a regex strip
        return html.unescape(re.sub(r"<[^>]*>", " ", value))


def collapse_whitespace(text: str, *, keep_newlines: bool = False) -> str:
    """Collapse runs of spaces (including non-breaking and other Unicode spaces).

    Zero-width characters and soft hyphens are removed. With ``keep_newlines`` line breaks
    survive (one per run of blank lines); otherwise every run of whitespace is one space.
    ``str.split()`` splits on exactly the characters ``\\s`` matches, and is much faster.
    """
    if not text.isascii():
        # \r, \f and \v are whitespace to split() as much as spaces are: only the invisible
        # characters need removing (none can occur in ASCII text, the common case)
        for char in _INVISIBLE_CHARS:
            if char in text:
                text = text.replace(char, "")
    if keep_newlines:
        lines = (" ".join(line.split()) for line in text.split("\n"))
        return "\n".join(line for line in lines if line)
    return " ".join(text.split())


def html_to_text(value: str, *, keep_newlines: bool = False) -> str:
    """Convert an HTML fragment (or plain text with entities) to plain text.

    Entities are decoded (also double-escaped ones such as ``&amp;amp;``), tags, scripts and
    styles dropped, block elements become line breaks, whitespace is collapsed.
    """
    if not value:
        return ""
    if "<" in value or "&" in value:
        # plain markup is split by one regular expression; the parser reads everything else
        simple = _simple_text(value)
        value = simple if simple is not None else _parsed_text(value)
        # feeds often escape twice ("&amp;amp;"); one more pass is safe on plain text
        if "&" in value and re.search(r"&(#\d+|#x[0-9a-f]+|[a-z]{2,8});", value, re.I):
            value = html.unescape(value)
    return collapse_whitespace(value, keep_newlines=keep_newlines)


def normalize_for_matching(text: str) -> str:
    """Typographic quotes to ASCII, Unicode spaces to plain spaces: what the matcher sees."""
    return collapse_whitespace(text.translate(_TYPOGRAPHIC))


# C0 controls except \t and \n, DEL, C1 controls; bidi embeddings/overrides/isolates/marks;
# zero-width space/non-joiner, word joiner and invisible operators, BOM;
# lone surrogates (not encodable: JSON encoders and chat APIs reject them).
_CONTROL_CHARS = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b\u200c\u200e\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\ud800-\udfff]"
)
_ODD_SPACES = re.compile(r"[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def strip_control(text: str, *, keep_newlines: bool = True) -> str:
    """Remove invisible and control characters; tabs and odd spaces become one space.

    With ``keep_newlines`` (summaries) newlines stay, at most one blank line in a row;
    without it (titles, names) every newline becomes a space.
    """
    if not text:
        return ""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n")
    text = _CONTROL_CHARS.sub("", text)
    if not keep_newlines:
        text = text.replace("\n", " ")
    text = _ODD_SPACES.sub(" ", text)
    if keep_newlines:
        text = "\n".join(line.strip() for line in text.split("\n"))
        text = _BLANK_LINES.sub("\n\n", text)
    return text.strip()


def strip_invisible(text: str) -> str:
    """Only remove control, bidi and zero-width characters (no whitespace changes)."""
    return _CONTROL_CHARS.sub("", text)

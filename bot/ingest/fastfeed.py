"""A fast path for well-formed, plain RSS 2.0 and Atom 1.0 feeds (the C ElementTree parser).

feedparser costs several times what the XML parsing itself costs: it is a SAX state machine
in pure Python that guesses content types, tracks nested contexts and handles a hundred
extensions. Most real feeds need none of that. ``fast_entries`` parses such a feed with the
C-accelerated ``xml.etree.ElementTree`` and returns entries shaped like feedparser's (the keys
``bot.ingest.normalize`` reads), so that the NewsItems are the same either way.

It is deliberately narrow and gives up (returns None: use feedparser) at the first doubt:
any DOCTYPE or entity declaration (nothing for expat to expand), a charset other than UTF-8 or
ASCII, an XML error, ``xml:base``, an element inside an item or entry that it does not know to
be harmless, markup nested in a text field, XHTML or out-of-line content, a date in a form it
does not parse exactly as feedparser does. The corpus test (tests/unit/ingest) proves that
every sample it accepts gives the same items as feedparser.
"""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

ATOM = "{http://www.w3.org/2005/Atom}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
DC = "{http://purl.org/dc/elements/1.1/}"
MEDIA = "{http://search.yahoo.com/mrss/}"
XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"

_XML_TYPES = frozenset(
    {
        "",
        "application/rss+xml",
        "application/atom+xml",
        "application/xml",
        "application/rdf+xml",
        "application/x-rss+xml",
        "text/xml",
    }
)
_UTF8 = frozenset({"utf-8", "utf8"})
_ASCII = frozenset({"us-ascii", "ascii"})
_DECL = re.compile(rb"^(?:\xef\xbb\xbf)?<\?xml[^>]*?encoding\s*=\s*[\"']([^\"']*)[\"']", re.I)
_RFC822 = re.compile(
    r"^(?:(Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?(\d{1,2}) "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{4}) "
    r"(\d{2}):(\d{2})(?::(\d{2}))? (GMT|UT|UTC|Z|[+-]\d{4}|[ECMP][SD]T)$"
)
_W3DTF = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})$")
_C1 = re.compile("[\x80-\x9f]")  # C1 controls: mis-decoded cp1252, which feedparser repairs
_MONTHS = {
    "Jan": 1,
    "Feb": 2,
    "Mar": 3,
    "Apr": 4,
    "May": 5,
    "Jun": 6,
    "Jul": 7,
    "Aug": 8,
    "Sep": 9,
    "Oct": 10,
    "Nov": 11,
    "Dec": 12,
}
_ZONES = {"EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6, "PST": -8, "PDT": -7}

# The children of an RSS item (and their descendants) that this path reads or knows to be
# irrelevant to a NewsItem. Anything else (dc:date, media:title, xhtml:body, ...) may change
# what feedparser reports: use feedparser.
_RSS_ITEM_TAGS = frozenset(
    {
        "title",
        "link",
        "description",
        "guid",
        "pubDate",
        "author",
        "category",
        "comments",
        "enclosure",
        "source",
        CONTENT + "encoded",
        DC + "creator",
        DC + "subject",
        MEDIA + "content",
        MEDIA + "thumbnail",
    }
)
_ATOM_ENTRY_TAGS = frozenset(
    {
        ATOM + t
        for t in ("title", "link", "id", "published", "updated", "summary", "content", "category", "author")
    }
    | {ATOM + "name", ATOM + "email", ATOM + "uri"}
)
_ENTRY_NAMES = frozenset({"item", "entry"})
_RSS_VERSIONS = {"2.0": "rss20", "0.91": "rss091u", "0.92": "rss092", "0.93": "rss093", "0.94": "rss094"}


class _Unsure(Exception):
    """Something this path does not handle exactly as feedparser does: use feedparser."""


def _charset(content_type: str) -> tuple[str, str | None]:
    main, _, params = content_type.partition(";")
    charset = None
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip("\"'").lower()
    return main.strip().lower(), charset


def _acceptable_bytes(body: bytes, headers: Mapping[str, str]) -> bool:
    """Whether the body is UTF-8 (or ASCII) by every account feedparser would consider."""
    if b"<!" in body and (b"<!DOCTYPE" in body or b"<!ENTITY" in body or b"<!doctype" in body):
        return False
    if body[:2] in (b"\xff\xfe", b"\xfe\xff") or body[:1] in (b"\x00", b"\x4c"):
        return False
    ctype = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    main, charset = _charset(ctype)
    if main not in _XML_TYPES:
        return False
    m = _DECL.match(body)
    declared = m.group(1).decode("ascii", "replace").lower() if m else None
    labels = {c for c in (charset, declared) if c is not None}
    if not labels <= _UTF8 | _ASCII:
        return False
    # RFC 3023 (which feedparser follows): text/xml without a charset is US-ASCII
    ascii_only = bool(labels & _ASCII) or (main.startswith("text/") and charset is None)
    return body.isascii() if ascii_only else True


def _text(el: ET.Element | None) -> str:
    """An element's text, stripped; markup nested inside it means feedparser would rebuild it."""
    if el is None:
        return ""
    if len(el):
        raise _Unsure("markup inside a text element")
    text = (el.text or "").strip()
    if _C1.search(text):
        raise _Unsure("C1 control characters")
    return _undouble(text)


def _undouble(text: str) -> str:
    """Repair UTF-8 that was read as Latin-1 and encoded again ("Ã©" for "é"), as feedparser does.

    A text that is valid UTF-8 once its characters are taken as Latin-1 bytes is such a
    double encoding; anything else is left alone.
    """
    if text.isascii():
        return text
    try:
        return text.encode("iso-8859-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def _rfc822(value: str) -> time.struct_time:
    m = _RFC822.match(value)
    if m is None:
        raise _Unsure(f"date {value!r}")
    _, day, mon, year, hh, mm, ss, zone = m.groups()
    if zone in ("GMT", "UT", "UTC", "Z"):
        offset = timedelta(0)
    elif zone in _ZONES:
        offset = timedelta(hours=_ZONES[zone])
    else:
        sign = -1 if zone[0] == "-" else 1
        offset = sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5]))
    try:
        when = datetime(int(year), _MONTHS[mon], int(day), int(hh), int(mm), int(ss or 0))
    except ValueError as exc:
        raise _Unsure(f"date {value!r}") from exc
    return (when - offset).timetuple()


def _w3dtf(value: str) -> time.struct_time:
    m = _W3DTF.match(value)
    if m is None:
        raise _Unsure(f"date {value!r}")
    year, mon, day, hh, mm, ss, zone = m.groups()
    if zone == "Z":
        tz = UTC
    else:
        sign = -1 if zone[0] == "-" else 1
        tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    try:
        when = datetime(int(year), int(mon), int(day), int(hh), int(mm), int(ss or 0), tzinfo=tz)
    except ValueError as exc:
        raise _Unsure(f"date {value!r}") from exc
    return when.astimezone(UTC).timetuple()


def _check_tags(el: ET.Element, allowed: frozenset[str]) -> None:
    for child in el.iter():
        if child is not el and child.tag not in allowed:
            raise _Unsure(f"element {child.tag}")
        if XML_BASE in child.attrib:
            raise _Unsure("xml:base")


def _rss_entry(item: ET.Element) -> dict[str, Any]:
    _check_tags(item, _RSS_ITEM_TAGS)
    entry: dict[str, Any] = {}
    # feedparser keeps the first of each text element (a repeated one would be appended)
    seen: set[str] = set()
    for child in item:
        tag = child.tag
        if tag in seen and tag in ("title", "link", "description", "guid", "pubDate", CONTENT + "encoded"):
            raise _Unsure(f"repeated {tag}")
        seen.add(tag)
    title = item.find("title")
    if title is not None:
        entry["title"] = _text(title)
    # feedparser: a permalink guid is the link when no <link> came before it; a later <link> wins
    link_seen = False
    for child in item:
        if child.tag == "link":
            link_seen = True
            href = _text(child)
            entry["link"] = href
            entry["links"] = [{"rel": "alternate", "href": href}]
        elif child.tag == "guid":
            entry["id"] = _text(child)
            entry["guidislink"] = child.get("isPermaLink", "true") == "true" and not link_seen
            if entry["guidislink"]:
                entry["link"] = entry["id"]
    description = item.find("description")
    encoded = item.find(CONTENT + "encoded")
    if encoded is not None:
        entry["content"] = [{"value": _text(encoded)}]
    if description is not None:
        entry["summary"] = _text(description)
    elif encoded is not None:
        entry["summary"] = entry["content"][0]["value"]
    pub = item.find("pubDate")
    if pub is not None:
        raw = _text(pub)
        entry["published"] = raw
        if raw:
            entry["published_parsed"] = _rfc822(raw)
    source = item.find("source")
    if source is not None:
        entry["source"] = {"title": _text(source), "href": source.get("url", "")}
    return entry


def _atom_text(el: ET.Element | None) -> str:
    if el is None:
        return ""
    kind = el.get("type", "text")
    if kind not in ("text", "html", "text/plain", "text/html") or el.get("src") is not None:
        raise _Unsure(f"atom content of type {kind}")
    return _text(el)


def _atom_entry(el: ET.Element) -> dict[str, Any]:
    _check_tags(el, _ATOM_ENTRY_TAGS)
    for tag in ("title", "id", "published", "updated", "summary", "content"):
        if len(el.findall(ATOM + tag)) > 1:
            raise _Unsure(f"repeated {tag}")
    entry: dict[str, Any] = {}
    title = el.find(ATOM + "title")
    if title is not None:
        entry["title"] = _atom_text(title)
    # feedparser: the last alternate HTML link is the link; the id stands in (guidislink) when
    # no link came before it, and a later alternate link replaces it
    links = []
    for child in el:
        if child.tag == ATOM + "link":
            rel = child.get("rel", "alternate")
            href = (child.get("href") or "").strip()
            links.append({"rel": rel, "href": href})
            if rel == "alternate":
                if child.get("type", "text/html") not in ("text/html", "application/xhtml+xml"):
                    raise _Unsure("alternate link of another type")
                entry["link"] = href
        elif child.tag == ATOM + "id":
            entry["id"] = _text(child)
            entry["guidislink"] = "link" not in entry
            if entry["guidislink"]:
                entry["link"] = entry["id"]
    if links:
        entry["links"] = links
    summary = el.find(ATOM + "summary")
    content = el.find(ATOM + "content")
    if content is not None:
        entry["content"] = [{"value": _atom_text(content)}]
    if summary is not None:
        entry["summary"] = _atom_text(summary)
    elif content is not None:
        entry["summary"] = entry["content"][0]["value"]
    for tag in ("published", "updated"):
        node = el.find(ATOM + tag)
        if node is not None:
            raw = _text(node)
            entry[tag] = raw
            if raw:
                entry[f"{tag}_parsed"] = _w3dtf(raw)
    return entry


def fast_entries(
    body: bytes, headers: Mapping[str, str] | None = None
) -> tuple[str, str, tuple[dict[str, Any], ...], str] | None:
    """(feed title, feed link, entries, version) of a plain RSS 2.0 / Atom 1.0 feed; None when unsure.

    The entries carry the keys feedparser would give them that ``bot.ingest.normalize``
    reads (title, link, links, id, guidislink, summary, content, published(_parsed),
    updated(_parsed), source). None means: parse it with feedparser.
    """
    if not _acceptable_bytes(body, headers or {}):
        return None
    try:
        root = ET.fromstring(body)
    except (ET.ParseError, ValueError):
        return None
    try:
        if root.tag == "rss":
            got = _rss(root)
        elif root.tag == ATOM + "feed":
            got = _atom(root)
        else:
            return None
    except _Unsure:
        return None
    if got is None:
        return None
    # feedparser takes any <item> or <entry>, in any namespace and anywhere, for an entry
    stray = sum(
        1 for el in root.iter() if isinstance(el.tag, str) and el.tag.rpartition("}")[2] in _ENTRY_NAMES
    )
    return got if stray == len(got[2]) else None


def _rss(root: ET.Element) -> tuple[str, str, tuple[dict[str, Any], ...], str] | None:
    channels = root.findall("channel")
    if len(channels) != 1 or root.find("item") is not None or XML_BASE in root.attrib:
        return None
    channel = channels[0]
    if XML_BASE in channel.attrib:
        return None
    entries = tuple(_rss_entry(item) for item in channel.findall("item"))
    version = _RSS_VERSIONS.get(root.get("version", ""), "rss")
    title = channel.find("title")
    link = channel.find("link")
    return (
        (title.text or "").strip() if title is not None else "",
        (link.text or "").strip() if link is not None else "",
        entries,
        version,
    )


def _atom(root: ET.Element) -> tuple[str, str, tuple[dict[str, Any], ...], str] | None:
    if XML_BASE in root.attrib:
        return None
    entries = tuple(_atom_entry(el) for el in root.findall(ATOM + "entry"))
    title = root.find(ATOM + "title")
    link = next(
        (
            lk.get("href") or ""
            for lk in root.findall(ATOM + "link")
            if lk.get("rel", "alternate") == "alternate"
        ),
        "",
    )
    return ((title.text or "").strip() if title is not None else "", link.strip(), entries, "atom10")

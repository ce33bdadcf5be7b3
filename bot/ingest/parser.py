"""Feed bodies to feedparser results, safely.

feedparser is always given ``io.BytesIO(body)`` plus the response headers: handed bare
``bytes`` or ``str`` that look like a path or a URL, it opens them. DOCTYPE internal subsets
are rewritten before parsing so that entity bombs (and external entities) never reach
expat; ill-formed ("bozo") feeds still yield the entries feedparser recovered.
"""

from __future__ import annotations

import codecs
import io
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import feedparser

from bot.ingest.fastfeed import fast_entries

# ---------------------------------------------------------------- DTD neutralisation

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
)
_SNIFF: tuple[tuple[bytes, str], ...] = (
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<\x00?", "utf-16-be"),
    (b"<\x00?\x00", "utf-16-le"),
    (b"\x4c\x6f\xa7\x94", "cp037"),
)
_SAFE_ENTITY = re.compile(
    rb"<!ENTITY\s+([A-Za-z_][\w.-]{0,63})\s+(\"(?:&#x?[0-9A-Fa-f]{1,7};|[^&%\"<]{0,200})\"|'(?:&#x?[0-9A-Fa-f]{1,7};|[^&%'<]{0,200})')\s*>"
)
_XML_DECL_ENCODING = re.compile(rb"^(<\?xml[^>]*?encoding\s*=\s*)([\"'])[^\"']*\2", re.I)
_NAME = re.compile(rb"[A-Za-z_:][\w.:-]*")
_MAX_PROLOG = 1 << 20


def _skip_quoted(data: bytes, i: int) -> int:
    """Index after the quoted string starting at ``i`` (or the end of data)."""
    end = data.find(data[i : i + 1], i + 1)
    return len(data) if end < 0 else end + 1


def _internal_subset_end(data: bytes, i: int) -> int:
    """Index of the ``]`` closing an internal subset that starts after ``[`` at ``i``."""
    n = len(data)
    while i < n:
        c = data[i : i + 1]
        if c in (b'"', b"'"):
            i = _skip_quoted(data, i)
        elif data.startswith(b"<!--", i):
            end = data.find(b"-->", i + 4)
            i = n if end < 0 else end + 3
        elif c == b"]":
            return i
        else:
            i += 1
    return n


def _rewrite_doctype(data: bytes, start: int) -> tuple[bytes, int]:
    """The DOCTYPE at ``start`` with only harmless entity declarations kept; and where it ended."""
    n = len(data)
    i = start + len(b"<!DOCTYPE")
    head_end = i
    subset: bytes | None = None
    while i < n:
        c = data[i : i + 1]
        if c in (b'"', b"'"):
            i = _skip_quoted(data, i)
            head_end = i
        elif c == b"[":
            close = _internal_subset_end(data, i + 1)
            subset = data[i + 1 : close]
            i = close + 1
        elif c == b">":
            i += 1
            break
        else:
            i += 1
            if subset is None:
                head_end = i
    head = data[start:head_end].rstrip(b" \t\r\n>")
    if subset is None:
        return head + b">", i
    safe = [m.group(0) for m in _SAFE_ENTITY.finditer(subset)]
    if not safe:
        return head + b">", i
    return head + b" [\n" + b"\n".join(safe) + b"\n]>", i


def _neutralize_ascii(data: bytes) -> bytes:
    """Rewrite the prolog of an ASCII-compatible document (see ``neutralize_dtd``)."""
    out: list[bytes] = []
    i = 0
    last = 0
    n = min(len(data), _MAX_PROLOG)
    while i < n:
        lt = data.find(b"<", i, n)
        if lt < 0:
            break
        if data.startswith(b"<?", lt):
            end = data.find(b"?>", lt + 2)
            i = len(data) if end < 0 else end + 2
        elif data.startswith(b"<!--", lt):
            end = data.find(b"-->", lt + 4)
            i = len(data) if end < 0 else end + 3
        elif data[lt : lt + 9].upper() == b"<!DOCTYPE":
            replacement, i = _rewrite_doctype(data, lt)
            out += [data[last:lt], replacement]
            last = i
        elif data[lt : lt + 8].upper() in (b"<!ENTITY", b"<!ELEMEN", b"<!ATTLIS"):
            end = data.find(b">", lt)
            i = len(data) if end < 0 else end + 1
            out.append(data[last:lt])
            last = i
        elif data.startswith(b"<![CDATA[", lt):
            break
        else:
            break  # the root element (or junk): the prolog is over
    if not out:
        return data
    out.append(data[last:])
    return b"".join(out)


def _wide_codec(body: bytes) -> str | None:
    """The codec of a body that is not ASCII-compatible (UTF-16/32, EBCDIC), by BOM or sniffing."""
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return codec
    for prefix, codec in _SNIFF:
        if body.startswith(prefix):
            return codec
    return None


def neutralize_dtd(body: bytes, headers: Mapping[str, str] | None = None) -> tuple[bytes, dict[str, str]]:
    """Remove dangerous DTD content before the XML parser sees it.

    Internal DOCTYPE subsets keep only simple ``<!ENTITY name "text">`` declarations (no
    references, no parameter or external entities), which defeats entity-expansion bombs
    and external-entity reads. Bodies in UTF-16/32 or EBCDIC are transcoded to UTF-8 first
    (and the returned headers say so). Returns the body and the headers to parse with.
    """
    hdrs = {k.lower(): v for k, v in (headers or {}).items()}
    codec = _wide_codec(body)
    if codec is None:
        if b"<!" not in body[:_MAX_PROLOG]:
            return body, hdrs
        return _neutralize_ascii(body), hdrs
    text = body.decode(codec, errors="replace").lstrip("\ufeff")
    if "<!" not in text[:_MAX_PROLOG]:
        return body, hdrs
    utf8 = _XML_DECL_ENCODING.sub(rb"\1\2utf-8\2", text.encode("utf-8", errors="replace"), count=1)
    ctype = hdrs.get("content-type", "application/xml")
    ctype = re.sub(r";\s*charset=[^;]*", "", ctype, flags=re.I) + "; charset=utf-8"
    hdrs["content-type"] = ctype
    return _neutralize_ascii(utf8), hdrs


# ---------------------------------------------------------------- content decoding


class BodyTooLarge(Exception):
    """A body grew past the size cap while being read or decompressed."""


def decompress(data: bytes, encoding: str, *, limit: int) -> bytes:
    """Undo a gzip or deflate Content-Encoding, never producing more than ``limit`` bytes.

    A body labelled compressed that is not (a common server mistake) is returned as it is
    when it looks like a document; corrupt compressed data raises ``zlib.error``.
    """
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return data
    if encoding in ("gzip", "x-gzip"):
        wbits_choices = [16 + zlib.MAX_WBITS]
    elif encoding == "deflate":
        wbits_choices = [zlib.MAX_WBITS, -zlib.MAX_WBITS]  # zlib-wrapped, else raw deflate
    else:
        raise zlib.error(f"unsupported Content-Encoding {encoding!r}")
    stripped = data.lstrip()
    if stripped.startswith((b"<", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        return data  # labelled compressed, but it is the document itself
    last_error: zlib.error | None = None
    for wbits in wbits_choices:
        try:
            return _inflate(data, wbits, limit)
        except zlib.error as exc:
            last_error = exc
    if wbits_choices[0] > zlib.MAX_WBITS:
        # A damaged gzip trailer (bad CRC or length): inflate the payload without checking it.
        offset = _gzip_payload_offset(data)
        if offset is not None:
            try:
                return _inflate(data[offset:], -zlib.MAX_WBITS, limit)
            except zlib.error as exc:
                last_error = exc
    assert last_error is not None
    raise last_error


def _gzip_payload_offset(data: bytes) -> int | None:
    """Where the deflate stream of a gzip member starts (after its header), or None."""
    if len(data) < 10 or data[:3] != b"\x1f\x8b\x08":
        return None
    flags = data[3]
    pos = 10
    if flags & 4:  # FEXTRA
        if len(data) < pos + 2:
            return None
        pos += 2 + int.from_bytes(data[pos : pos + 2], "little")
    for flag in (8, 16):  # FNAME, FCOMMENT: zero-terminated
        if flags & flag:
            end = data.find(b"\x00", pos)
            if end < 0:
                return None
            pos = end + 1
    if flags & 2:  # FHCRC
        pos += 2
    return pos if pos < len(data) else None


def _inflate(data: bytes, wbits: int, limit: int) -> bytes:
    """Inflate ``data`` in steps, keeping what was recovered when the stream is damaged late."""
    out = bytearray()
    rest = data
    step = 1 << 16
    while rest:
        d = zlib.decompressobj(wbits)
        pos = 0
        try:
            while pos < len(rest) and not d.eof:
                out += d.decompress(rest[pos : pos + step], limit + 1 - len(out))
                pos += step
                while d.unconsumed_tail and len(out) <= limit:
                    out += d.decompress(d.unconsumed_tail, limit + 1 - len(out))
                if len(out) > limit:
                    raise BodyTooLarge(f"body is larger than {limit} bytes once decompressed")
        except zlib.error:
            if not out:
                raise
            break  # damaged trailer or checksum: keep what was recovered
        if not d.eof:
            if not out:
                raise zlib.error("truncated compressed body")
            break  # truncated stream: keep what was recovered
        tail = d.unused_data
        rest = tail if wbits > 0 and tail.startswith(b"\x1f\x8b") else b""
    return bytes(out)


# ---------------------------------------------------------------- parsing


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """What feedparser made of a body: the feed's own fields and its entries."""

    title: str
    link: str
    entries: tuple[Any, ...]
    bozo: bool
    bozo_reason: str | None
    encoding: str | None
    version: str | None


def parse_feed(
    body: bytes, headers: Mapping[str, str] | None = None, *, url: str = "", fast: bool = True
) -> ParsedFeed:
    """Parse a feed body: plain RSS 2.0 / Atom 1.0 on the fast path, else feedparser.

    ``headers`` are the HTTP response headers (Content-Type carries the charset);
    ``url`` is where the body came from: the feed's own link is resolved against it here,
    entry links in ``bot.ingest.normalize``. The fast path (``bot.ingest.fastfeed``) gives
    the same items as feedparser and declines anything it is unsure of; ``fast=False``
    always uses feedparser (after neutralising the DTD).
    """
    if fast:
        got = fast_entries(body, headers)
        if got is not None:
            title, link, entries, version = got
            return ParsedFeed(
                title=title,
                link=urljoin(url, link) if url else link,
                entries=entries,
                bozo=False,
                bozo_reason=None,
                encoding="utf-8",
                version=version,
            )
    data, hdrs = neutralize_dtd(body, headers)
    # No Content-Location: feedparser would join it with every element's base (a quarter of
    # the parse time); relative entry links are resolved against ``url`` in normalisation.
    hdrs.pop("content-location", None)
    # feedparser prefers the header charset; a wrong one only makes the result bozo.
    # Its HTML sanitiser and relative-URI rewriting inside content are skipped: titles and
    # summaries become plain text (html_to_text drops tags and scripts) and entry links are
    # resolved on their own, so that work (a third of the parse time) would be thrown away.
    result = feedparser.parse(
        io.BytesIO(data), response_headers=hdrs, sanitize_html=False, resolve_relative_uris=False
    )
    feed = result.get("feed") or {}
    reason = None
    if result.get("bozo"):
        exc = result.get("bozo_exception")
        reason = f"{type(exc).__name__}: {exc}" if exc is not None else "ill-formed feed"
    return ParsedFeed(
        title=str(feed.get("title") or ""),
        link=urljoin(url, str(feed.get("link") or "")) if url else str(feed.get("link") or ""),
        entries=tuple(result.get("entries") or ()),
        bozo=bool(result.get("bozo")),
        bozo_reason=reason,
        encoding=result.get("encoding"),
        version=result.get("version") or None,
    )


# ---------------------------------------------------------------- HTML instead of a feed

_HTML_START = re.compile(
    rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html[\s>]|head[\s>]|body[\s>])", re.I | re.S
)
_ALTERNATE = re.compile(rb"<link\b[^>]*>", re.I)
_ATTR = re.compile(rb"""([a-zA-Z-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""")
_FEED_TYPES = (b"application/rss+xml", b"application/atom+xml", b"application/rdf+xml")


def feed_link_in_html(body: bytes, base_url: str = "") -> str | None:
    """The first ``<link rel="alternate" type="application/rss+xml" href=...>`` of an HTML page."""
    for tag in _ALTERNATE.finditer(body[: 256 * 1024]):
        attrs: dict[bytes, bytes] = {}
        for m in _ATTR.finditer(tag.group(0)):
            attrs[m.group(1).lower()] = m.group(2) or m.group(3) or m.group(4) or b""
        rel = attrs.get(b"rel", b"").lower().split()
        if (
            b"alternate" in rel
            and attrs.get(b"type", b"").lower().strip() in _FEED_TYPES
            and attrs.get(b"href")
        ):
            href = attrs[b"href"].decode("utf-8", "replace").strip()
            return urljoin(base_url, href) if base_url else href
    return None


def html_instead_of_feed(
    body: bytes, headers: Mapping[str, str] | None = None, *, url: str = ""
) -> str | None:
    """A one-line reason when ``body`` is a web page rather than a feed (None when it may be a feed).

    Decided on the Content-Type (text/html, application/xhtml+xml) or an HTML start tag, so a
    feed served as text/html by a careless server is still read when its body is XML. The
    reason names the page's own feed link when it advertises one.
    """
    ctype = ""
    for k, v in (headers or {}).items():
        if k.lower() == "content-type":
            ctype = v.split(";", 1)[0].strip().lower()
    head = body[:4096].lstrip(b"\xef\xbb\xbf")
    looks_html = bool(_HTML_START.match(head))
    looks_xml_feed = re.search(rb"<(?:rss|feed|rdf:RDF)[\s>]", head) is not None
    if looks_xml_feed and not looks_html:
        return None
    if not looks_html and ctype not in ("text/html", "application/xhtml+xml"):
        return None
    link = feed_link_in_html(body, url)
    if link:
        return f"this is a web page, not a feed: try its feed {link}"
    return "this is a web page (HTML), not an RSS or Atom feed: use the site's feed URL"

"""What may never pass from a feed into a chat message, whatever the platform.

Composition (``bot.delivery.compose``) runs every alert through ``clean_alert``, so an
``Alert`` that leaves delivery already guarantees:

* no control characters: C0/C1 controls (except newline in summaries), DEL, bidirectional
  overrides and isolates (which can make text read backwards), zero-width spaces and BOM,
  line/paragraph separators;
* titles, sources, terms and watchlist names on one line (no newline to start a new
  Markdown block or a Slack quote);
* links that are absolute ``http``/``https`` URLs with a host and no credentials, with the
  characters that would break out of Slack's ``<url|text>`` or Markdown's ``[text](url)``
  (space, ``<``, ``>``, ``|``, ``"``, backtick, parentheses, brackets) percent-encoded; any
  other link (``javascript:``, ``data:``, ``mailto:``, relative, over-long) becomes ``""``.

What this module does NOT do, on purpose: platform syntax. The Slack renderer still escapes
``& < >`` and mentions (``<!channel>``, ``<@U…>``); the Discord renderer still escapes markdown
and ``@everyone``/``@here``/``<@…>`` and sends ``allowed_mentions=none``; the console escapes
Rich markup. Those renderers call ``safe_link`` and ``strip_control`` on anything they render
that did not come through composition (e.g. command replies).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from urllib.parse import quote, urlsplit, urlunsplit

from bot.domain.models import Alert, DigestEntry
from bot.domain.text import strip_control, strip_invisible

MAX_URL_LENGTH = 2000

# Characters kept literally in a URL: RFC 3986 unreserved, reserved and '%', minus the ones that
# end or break a link in chat syntaxes: space < > | " ` ( ) [ ] { } \ ^ and quotes.
_URL_SAFE = "-._~:/?#@!$&'*+,;=%"
_SCHEMES = ("http", "https")
_HOSTNAME = re.compile(r"[a-z0-9_](?:[a-z0-9_.\-]*[a-z0-9])?\.?")


def one_line(text: str) -> str:
    """``strip_control`` for text that must stay on one line (titles, sources, names)."""
    return strip_control(text, keep_newlines=False)


def safe_link(url: str | None) -> str | None:
    """An http(s) URL that is safe to put in any chat link syntax, or None.

    Rejects other schemes, missing hosts, user:password@ (a classic way to disguise the real
    host) and URLs over ``MAX_URL_LENGTH``; percent-encodes characters that could end a link
    early in Slack or Markdown syntax.
    """
    if not url:
        return None
    # as browsers do (WHATWG URL): drop tabs and newlines, trim the ends
    url = re.sub(r"[\t\n\r\u2028\u2029]", "", strip_invisible(url)).strip()
    if not url or len(url) > MAX_URL_LENGTH:
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port  # raises ValueError on a malformed port
    except ValueError:
        return None
    if parts.scheme.lower() not in _SCHEMES or not host:
        return None
    if parts.username is not None or parts.password is not None:
        return None
    netloc = _host(host)
    if netloc is None:
        return None
    if port is not None:
        netloc = f"{netloc}:{port}"
    path = quote(parts.path, safe=_URL_SAFE)
    query = quote(parts.query, safe=_URL_SAFE)
    fragment = quote(parts.fragment, safe=_URL_SAFE)
    out = urlunsplit((parts.scheme.lower(), netloc, path or "/", query, fragment))
    return out if len(out) <= MAX_URL_LENGTH else None


def _host(host: str) -> str | None:
    """The host as it may appear in a link (punycode, bracketed IPv6), or None if it is no host."""
    if ":" in host:
        try:
            return f"[{ipaddress.IPv6Address(host).compressed}]"
        except ValueError:
            return None
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    return host if _HOSTNAME.fullmatch(host) else None


def truncate(text: str, limit: int, *, ellipsis: str = "…") -> str:
    """Cut ``text`` to at most ``limit`` characters, at a word boundary where one is near."""
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    cut = text[: max(limit - len(ellipsis), 0)]
    space = cut.rfind(" ")
    if space >= len(cut) * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + ellipsis


def _entry(e: DigestEntry) -> DigestEntry:
    return dataclasses.replace(
        e,
        title=one_line(e.title),
        link=safe_link(e.link) or "",
        source=one_line(e.source),
        tickers=tuple(one_line(t) for t in e.tickers),
    )


def clean_alert(alert: Alert) -> Alert:
    """The alert with every feed-derived text field cleaned and every link made safe (or empty)."""
    return dataclasses.replace(
        alert,
        watchlist=one_line(alert.watchlist),
        watchlists=tuple(one_line(w) for w in alert.watchlists),
        title=one_line(alert.title),
        link=safe_link(alert.link) or "",
        source=one_line(alert.source),
        summary=strip_control(alert.summary),
        tickers=tuple(dataclasses.replace(t, symbol=one_line(t.symbol)) for t in alert.tickers),
        terms=tuple(one_line(t) for t in alert.terms),
        entries=tuple(_entry(e) for e in alert.entries),
        note=strip_control(alert.note),
    )

"""feedparser entries to ``NewsItem``: stable ids, canonical links, plain text, UTC times.

The RSS/Atom shape stops here (``item_from_entry``); everything downstream sees NewsItems.
"""

from __future__ import annotations

import calendar
import hashlib
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin

from bot.domain.models import NewsItem
from bot.domain.stories import canonical_url
from bot.domain.summary import summarize
from bot.domain.text import html_to_text
from bot.ingest.parser import ParsedFeed

log = logging.getLogger(__name__)

# A clock skew we tolerate before calling a date "in the future" and clamping it.
FUTURE_TOLERANCE = timedelta(minutes=5)
_MAX_TITLE = 500
_MAX_ID = 2000


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _entry_link(entry: Mapping[str, Any], base: str) -> str:
    """The entry's web link: ``link``, else the first alternate link; http(s) only."""
    candidates = [_text(entry.get("link"))]
    for link in entry.get("links") or ():
        if isinstance(link, Mapping) and link.get("rel", "alternate") == "alternate":
            candidates.append(_text(link.get("href")))
    guid = _text(entry.get("id"))
    if entry.get("guidislink") and guid:
        candidates.append(guid)
    for raw in candidates:
        raw = raw.strip()
        if not raw:
            continue
        url = urljoin(base, raw) if base else raw
        if url.lower().startswith(("http://", "https://")):
            return url
    return ""


def _entry_summary(entry: Mapping[str, Any]) -> str:
    """The entry's description as plain text: ``summary``, else its first ``content``."""
    summary = _text(entry.get("summary"))
    if not summary.strip():
        for content in entry.get("content") or ():
            if isinstance(content, Mapping) and _text(content.get("value")).strip():
                summary = _text(content.get("value"))
                break
    return html_to_text(summary)


def _entry_time(entry: Mapping[str, Any]) -> datetime | None:
    """Published (else updated, else created) time as tz-aware UTC; None when absent or absurd."""
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = entry.get(key)
        if isinstance(parsed, time.struct_time | tuple) and len(parsed) >= 6:
            try:
                return datetime.fromtimestamp(calendar.timegm(tuple(parsed)[:9]), tz=UTC)
            except (OverflowError, ValueError, OSError, TypeError):
                continue
    return None


def _publisher(entry: Mapping[str, Any]) -> str:
    """The original publisher an aggregator names (RSS ``<source>``), e.g. "Reuters"; else ""."""
    src = entry.get("source")
    if isinstance(src, Mapping):
        return html_to_text(_text(src.get("title")))[:100]
    return ""


def entry_key(entry: Mapping[str, Any], *, link: str, title: str) -> str:
    """A stable identity within a feed: the guid, else the canonical link, else a hash of title + date."""
    guid = _text(entry.get("id")).strip()
    if guid:
        return guid[:_MAX_ID]
    if link:
        return (canonical_url(link) or link)[:_MAX_ID]
    date = _text(entry.get("published")) or _text(entry.get("updated"))
    digest = hashlib.sha256(f"{title}\x00{date}".encode("utf-8", "surrogatepass")).hexdigest()
    return f"sha256:{digest}"


def item_from_entry(
    entry: Mapping[str, Any],
    *,
    feed_id: str,
    source: str,
    base_url: str,
    fetched_at: datetime,
    summary_chars: int = 280,
) -> NewsItem | None:
    """One feedparser entry as a NewsItem; None when it has neither a title nor a link.

    Titles and summaries become plain text without boilerplate; the summary is chat-sized.
    ``source`` is the feed's name, unless the entry names its original publisher (aggregators
    such as Yahoo's or Google's headline feeds do), so that "also reported by" names outlets.
    The published time falls back to ``fetched_at`` (first seen) and is clamped to it when
    it lies in the future.
    """
    link = _entry_link(entry, base_url)
    title = html_to_text(_text(entry.get("title")))[:_MAX_TITLE]
    body = _entry_summary(entry)
    if not title:
        # Some feeds (microblogs) have no titles: the first words of the text stand in.
        title = summarize(body, limit=120) if body else ""
    if not title and not link:
        return None
    if not title:
        title = link
    published = _entry_time(entry) or fetched_at
    if published > fetched_at + FUTURE_TOLERANCE:
        published = fetched_at
    guid = _text(entry.get("id")).strip() or None
    return NewsItem(
        id=entry_key(entry, link=link, title=title),
        feed_id=feed_id,
        source=_publisher(entry) or source,
        title=title,
        link=link,
        canonical_url=canonical_url(link) if link else "",
        summary=summarize(body, title=title, limit=summary_chars),
        published_at=published,
        fetched_at=fetched_at,
        guid=guid[:_MAX_ID] if guid else None,
    )


def items_from_feed(
    parsed: ParsedFeed,
    *,
    feed_id: str,
    source: str,
    base_url: str,
    fetched_at: datetime,
    summary_chars: int = 280,
) -> list[NewsItem]:
    """Every usable entry of a parsed feed, in feed order, without duplicate ids."""
    out: list[NewsItem] = []
    seen: set[str] = set()
    for entry in parsed.entries:
        if not isinstance(entry, Mapping):
            continue
        item = item_from_entry(
            entry,
            feed_id=feed_id,
            source=source,
            base_url=base_url,
            fetched_at=fetched_at,
            summary_chars=summary_chars,
        )
        if item is None or item.id in seen:
            continue
        seen.add(item.id)
        out.append(item)
    return out

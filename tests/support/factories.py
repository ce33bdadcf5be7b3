"""One set of test factories: a story, an alert, a quote, a news item, an outbox entry.

Each returns a valid domain record with plain defaults (a Reuters story about Amazon in the
``cloud-china`` watchlist at ``T0``); a test names only what it cares about as keyword overrides,
e.g. ``alert("k1", channel=DISCORD, tickers=())`` or ``story("Chip curbs", at=now, also=("AP",))``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.delivery.escape import clean_alert
from bot.domain.models import (
    Alert,
    ChannelRef,
    NewsItem,
    Quote,
    Story,
    StorySource,
    TickerLine,
    TradingSession,
)
from bot.domain.records import OutboxEntry

T0 = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)  # 08:00 New York, pre-market
SLACK = ChannelRef("slack", "C0123ABCD", "T1")

_ids = itertools.count(1)


def story(
    title: str | None = None,
    *,
    sid: str | None = None,
    at: datetime = T0,
    summary: str = "",
    source: str = "Reuters",
    link: str | None = None,
    also: Sequence[str] = (),
    tickers: tuple[str, ...] = (),
    sourced: bool = True,
    **changes: Any,
) -> Story:
    """A stored story first seen ``at``; ``also`` are outlets that carried it later.

    ``sid`` defaults to a fresh ``s00001``-style id, ``title`` to ``Story <sid>``, ``link`` to a
    ``news.example`` URL; ``sourced=False`` leaves ``sources`` empty (a story from before sources
    were recorded).
    """
    sid = sid or f"s{next(_ids):05d}"
    link = link if link is not None else f"https://news.example/{sid}"
    sources: tuple[StorySource, ...] = ()
    if sourced:
        later = (StorySource(o, f"https://{o.lower().replace(' ', '')}.example/{sid}", at) for o in also)
        sources = (StorySource(source, link, at), *later)
    fields: dict[str, Any] = {
        "id": sid,
        "title": title if title is not None else f"Story {sid}",
        "link": link,
        "canonical_url": link,
        "summary": summary,
        "source": source,
        "published_at": at,
        "first_seen_at": at,
        "tickers": tickers,
        "sources": sources,
    }
    fields.update(changes)
    return Story(**fields)


def alert(key: str = "k1", *, channel: ChannelRef = SLACK, **changes: Any) -> Alert:
    """A story alert for ``channel``: title ``Title <key>``, Reuters, AMZN, published at ``T0``."""
    fields: dict[str, Any] = {
        "key": key,
        "kind": "story",
        "channel": channel,
        "watchlist": "cloud-china",
        "title": f"Title {key}",
        "link": "https://news.example/x",
        "source": "Reuters",
        "published_at": T0,
        "tickers": (TickerLine("AMZN"),),
    }
    fields.update(changes)
    return Alert(**fields)


def news_alert(
    channel: ChannelRef = SLACK, *, now: datetime = T0, clean: bool = False, **changes: Any
) -> Alert:
    """The story alert the renderer and chat adapter tests show: "Amazon wins cloud deal in China"
    from Reuters, published 12 minutes before ``now``, with a summary, AMZN (no price) and the
    matched term "cloud". ``clean=True`` passes it through the pipeline's ``clean_alert`` first, as
    every alert is before a ChatAdapter sees it (hostile titles arrive cleaned)."""
    fields: dict[str, Any] = {
        "key": "story:s1:sub:1",
        "kind": "story",
        "channel": channel,
        "watchlist": "cloud-china",
        "title": "Amazon wins cloud deal in China",
        "link": "https://news.example.com/amzn",
        "source": "Reuters",
        "published_at": now - timedelta(minutes=12),
        "summary": "AWS signed a five-year contract.",
        "tickers": (TickerLine("AMZN"),),
        "terms": ("cloud",),
        "story_id": "s1",
    }
    fields.update(changes)
    made = Alert(**fields)
    return clean_alert(made) if clean else made


def quote(
    symbol: str = "AMZN",
    price: float | None = 100.0,
    pct: float | None = None,
    *,
    session: TradingSession | None = TradingSession.PRE,
    as_of: datetime | None = T0,
    **changes: Any,
) -> Quote:
    """A quote of ``price`` moving ``pct`` percent; ``change`` and ``previous_close`` follow from them.

    Override ``change``/``previous_close`` for quotes the source reported differently (or not at all).
    """
    change = None if price is None or pct is None else price * pct / 100
    fields: dict[str, Any] = {
        "symbol": symbol,
        "price": price,
        "previous_close": None if price is None else price - (change or 0),
        "change": change,
        "change_pct": pct,
        "session": session,
        "as_of": as_of,
    }
    fields.update(changes)
    return Quote(**fields)


def item(
    feed: str = "f1",
    n: int = 1,
    *,
    at: datetime = T0,
    title: str | None = None,
    link: str | None = None,
    guid: str | None = None,
    **changes: Any,
) -> NewsItem:
    """Entry ``n`` of ``feed``, published and fetched ``at``; its id is the guid, else the link."""
    link = link or f"https://news.example/{n}"
    fields: dict[str, Any] = {
        "id": guid or link,
        "feed_id": feed,
        "source": f"Feed {feed}",
        "title": title or f"Headline {n}",
        "link": link,
        "canonical_url": link,
        "summary": "",
        "published_at": at,
        "fetched_at": at,
        "guid": guid,
    }
    fields.update(changes)
    return NewsItem(**fields)


def carried(
    s: Story, feed: str = "f1", n: int = 1, *, at: datetime | None = None, **changes: Any
) -> tuple[NewsItem, str]:
    """Entry ``n`` of ``feed`` that carried story ``s`` (its title; fetched ``at``, by default when the
    story was first seen), paired with the story's id as ``IngestBatch.items`` lists it."""
    return item(feed, n, at=s.first_seen_at if at is None else at, title=s.title, **changes), s.id


def entry(
    key: str = "k1",
    sub: int | None = None,
    *,
    at: datetime = T0,
    status: str = "pending",
    alert_of: Alert | None = None,
    created_at: datetime | None = None,
    **alert_changes: Any,
) -> OutboxEntry:
    """An outbox entry due ``at`` for subscription ``sub``, carrying ``alert(key, **alert_changes)``."""
    return OutboxEntry(
        key=key,
        alert=alert_of or alert(key, **alert_changes),
        subscription_id=sub,
        due_at=at,
        status=status,  # type: ignore[arg-type]
        created_at=at if created_at is None else created_at,
    )

"""``NewsSource`` for Yahoo Finance ticker news, through yfinance's ``Ticker.get_news``.

yfinance 1.x posts to finance.yahoo.com's ``/xhr/ncp?queryRef=latestNews`` endpoint and
returns the stream's stories (ads removed) as ``{"id", "content": {...}}`` dicts. Each
becomes a NewsItem: plain-text title and summary, the publisher's link (``clickThroughUrl``,
else Yahoo's own page), its canonical form for de-duplication against the same story from
RSS feeds, and the publication time. Tickers are fetched in parallel worker threads under
one deadline; a ticker that fails is skipped (and logged) unless every ticker fails, which
raises ``SourceError`` so the poller backs off.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.domain.errors import SourceError
from bot.domain.models import NewsItem
from bot.domain.stories import canonical_url
from bot.domain.summary import summarize
from bot.domain.text import html_to_text
from bot.domain.timeutil import SystemClock
from bot.market.pool import DaemonPool
from bot.market.yahoo import YahooTransport, classify
from bot.ports import Clock

log = logging.getLogger(__name__)

_MAX_TITLE = 500
_MAX_ID = 500


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _url(value: Any) -> str:
    if isinstance(value, Mapping):
        value = value.get("url")
    url = _text(value).strip()
    return url if url.lower().startswith(("http://", "https://")) else ""


def _when(value: Any) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value / 1000 if value > 1e11 else value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    text = _text(value).strip()
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def item_from_yahoo(
    raw: Mapping[str, Any], *, feed_id: str, fetched_at: datetime, summary_chars: int = 280
) -> NewsItem | None:
    """One ``Ticker.news`` entry -> NewsItem (None for ads, videos without a link, or junk).

    Also accepts the flat shape older yfinance versions returned (title/link/publisher/
    providerPublishTime at the top level).
    """
    if raw.get("ad"):
        return None
    content = raw.get("content")
    c: Mapping[str, Any] = content if isinstance(content, Mapping) else raw
    if _text(c.get("contentType")).upper() == "AD":
        return None
    title = html_to_text(_text(c.get("title")))[:_MAX_TITLE]
    link = _url(c.get("clickThroughUrl")) or _url(c.get("canonicalUrl")) or _url(c.get("link"))
    if not title or not link:
        return None
    item_id = _text(c.get("id")) or _text(raw.get("id")) or _text(raw.get("uuid")) or canonical_url(link)
    provider = c.get("provider")
    source = (
        _text(provider.get("displayName")) if isinstance(provider, Mapping) else _text(c.get("publisher"))
    ).strip() or "Yahoo Finance"
    body = html_to_text(_text(c.get("summary")) or _text(c.get("description")))
    published = _when(c.get("pubDate")) or _when(c.get("displayTime")) or _when(c.get("providerPublishTime"))
    if published is None or published > fetched_at:
        published = fetched_at
    return NewsItem(
        id=item_id[:_MAX_ID],
        feed_id=feed_id,
        source=source[:200],
        title=title,
        link=link,
        canonical_url=canonical_url(link),
        summary=summarize(body, title=title, limit=summary_chars) if body else "",
        published_at=published,
        fetched_at=fetched_at,
        guid=item_id[:_MAX_ID],
    )


class YahooNewsSource:
    """Yahoo Finance news for a set of tickers (``tickers`` may be a callable, read each poll)."""

    def __init__(
        self,
        tickers: Sequence[str] | Callable[[], Sequence[str]],
        *,
        source_id: str = "yahoo:news",
        timeout: float = 10.0,
        count: int = 10,
        summary_chars: int = 280,
        yahoo_url: str | None = None,
        clock: Clock | None = None,
        cache_dir: Path | None = None,
        workers: int = 4,
    ) -> None:
        self._tickers = tickers
        self._id = source_id
        self.timeout = timeout
        self.count = count
        self.summary_chars = summary_chars
        self._clock: Clock = clock or SystemClock()
        self._transport = YahooTransport(timeout=timeout, base_url=yahoo_url, cache_dir=cache_dir)
        self._pool = DaemonPool(workers, name="marketbot-yahoo-news")

    @property
    def id(self) -> str:
        return self._id

    def tickers(self) -> list[str]:
        raw = self._tickers() if callable(self._tickers) else self._tickers
        return list(dict.fromkeys(t.strip().lstrip("$").upper() for t in raw if t and t.strip()))

    async def fetch(self) -> list[NewsItem]:
        """The latest stories of every ticker, de-duplicated, newest first."""
        symbols = self.tickers()
        if not symbols:
            return []
        results = await asyncio.gather(
            *(self._pool.run(self._transport.news, s, self.count, timeout=self.timeout) for s in symbols),
            return_exceptions=True,
        )
        now = self._clock.now()
        items: dict[str, NewsItem] = {}
        errors: list[str] = []
        for sym, result in zip(symbols, results, strict=True):
            if isinstance(result, BaseException):
                self._transport.forget(sym)
                reason = (
                    f"Yahoo Finance did not answer within {self.timeout:g}s"
                    if isinstance(result, TimeoutError)
                    else str(classify(result, what="news", symbol=sym))
                )
                errors.append(f"{sym}: {reason}")
                continue
            for raw in result:
                item = item_from_yahoo(
                    raw, feed_id=self._id, fetched_at=now, summary_chars=self.summary_chars
                )
                if item is not None and item.id not in items:
                    items[item.id] = item
        if errors:
            if len(errors) == len(symbols):
                raise SourceError(f"Yahoo Finance news failed for every ticker ({errors[0]})", retryable=True)
            log.warning(
                "Yahoo Finance news failed for %d of %d tickers: %s",
                len(errors),
                len(symbols),
                "; ".join(errors[:5]),
            )
        return sorted(items.values(), key=lambda i: i.published_at, reverse=True)

    async def aclose(self) -> None:
        self._pool.shutdown()
        self._transport.close()

"""Which feeds to poll: the config's ``feeds``, ``ticker_feeds`` templates expanded for every
watched ticker, and other news sources (Yahoo ticker news) that the app plugs in.

Feed ids are derived from URLs, so a feed keeps its polling state across restarts and renames;
adding NVDA to any watchlist adds NVDA's ticker feeds at the next refresh.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from bot.config import FeedConfig
from bot.domain.models import Watchlist
from bot.domain.records import ChatFeed, FeedOrigin, FeedSpec
from bot.ports import NewsSource

_QUERY_TICKER = re.compile(r"(?<![\w$])\$([A-Za-z][A-Za-z0-9]{0,5}(?:[.-][A-Za-z0-9]{1,4})?)\b")


@dataclass(frozen=True, slots=True)
class FeedSource:
    """A feed to poll: its spec, the ticker it was expanded for (ticker feeds), or a NewsSource.

    HTTP feeds have ``news`` None and are fetched by URL; other sources (Yahoo ticker news)
    bring their own ``fetch()``.
    """

    spec: FeedSpec
    ticker: str | None = None
    news: NewsSource | None = None

    @property
    def id(self) -> str:
        return self.spec.id


def feed_id(url: str, origin: FeedOrigin = "config", ticker: str | None = None) -> str:
    """A stable id for a feed URL: ``config:1a2b3c4d5e6f7a8b`` or ``ticker:NVDA:1a2b3c4d5e6f``."""
    digest = hashlib.sha256(url.strip().encode("utf-8")).hexdigest()
    if ticker:
        return f"{origin}:{ticker}:{digest[:12]}"
    return f"{origin}:{digest[:16]}"


def watched_tickers(watchlists: Iterable[Watchlist]) -> list[str]:
    """Every ticker of every watchlist (``tickers`` and ``$TICKER`` terms of queries), sorted."""
    found: set[str] = set()
    for w in watchlists:
        found.update(t.upper() for t in w.tickers)
        if w.query:
            found.update(m.group(1).upper() for m in _QUERY_TICKER.finditer(w.query))
    return sorted(found)


def expand_template(template: str, ticker: str) -> str:
    """A ticker-feed URL: ``{ticker}`` replaced by the URL-encoded symbol (``BRK.B`` stays, ``^`` is encoded)."""
    return template.replace("{ticker}", quote(ticker, safe=".-_~"))


def _template_name(template: str, ticker: str) -> str:
    host = urlsplit(template).hostname or "feed"
    for prefix in ("www.", "feeds.", "rss.", "feed."):
        if host.startswith(prefix):
            host = host[len(prefix) :]
    return f"{ticker} news ({host})"


@dataclass(frozen=True, slots=True)
class FeedOptions:
    """The configuration that decides the feeds: the config's ``feeds``, its ``ticker_feeds``
    templates and ``ingest.ticker_feed_interval`` (seconds)."""

    feeds: Sequence[FeedConfig]
    ticker_feeds: Sequence[str]
    ticker_interval: float


def config_feeds(options: FeedOptions) -> list[FeedSource]:
    """The ``feeds`` of the config file (trusted: the SSRF guard does not apply)."""
    return [
        FeedSource(
            FeedSpec(
                id=feed_id(f.url),
                name=f.name,
                url=f.url,
                origin="config",
                interval=int(f.interval),
                enabled=f.enabled,
                backfill=f.backfill,
                trusted=True,
            )
        )
        for f in options.feeds
    ]


def chat_sources(feeds: Iterable[ChatFeed]) -> list[FeedSource]:
    """Feeds added from chat: untrusted (fetched through the SSRF guard), each on its own interval."""
    return [
        FeedSource(
            FeedSpec(
                id=f.feed_id,
                name=f.name,
                url=f.url,
                origin="chat",
                interval=int(f.interval),
                enabled=True,
                backfill=0,
                trusted=False,
            )
        )
        for f in feeds
    ]


def ticker_feeds(options: FeedOptions, tickers: Iterable[str]) -> list[FeedSource]:
    """One feed per ``ticker_feeds`` template and watched ticker, polled every ``ingest.ticker_feed_interval``."""
    out: list[FeedSource] = []
    seen: set[str] = set()
    for ticker in sorted({t.upper() for t in tickers}):
        for template in options.ticker_feeds:
            url = expand_template(template, ticker)
            if url in seen:
                continue
            seen.add(url)
            out.append(
                FeedSource(
                    FeedSpec(
                        id=feed_id(url, "ticker", ticker),
                        name=_template_name(template, ticker),
                        url=url,
                        origin="ticker",
                        interval=int(options.ticker_interval),
                        enabled=True,
                        backfill=0,
                        trusted=True,
                    ),
                    ticker=ticker,
                )
            )
    return out


def news_source(
    source: NewsSource, *, name: str, interval: float, origin: FeedOrigin = "yahoo"
) -> FeedSource:
    """Wrap a NewsSource (e.g. Yahoo ticker news) so the poller schedules and dedups it like a feed."""
    return FeedSource(
        FeedSpec(
            id=source.id,
            name=name,
            url=f"{origin}:{source.id}",
            origin=origin,
            interval=int(interval),
            enabled=True,
            backfill=0,
            trusted=True,
        ),
        news=source,
    )


def all_feeds(
    options: FeedOptions,
    watchlists: Iterable[Watchlist],
    extra: Sequence[FeedSource] = (),
    chat: Iterable[ChatFeed] = (),
) -> list[FeedSource]:
    """Config feeds, ticker feeds for the tickers of ``watchlists``, chat feeds, then ``extra``
    sources; unique ids."""
    out: dict[str, FeedSource] = {}
    sources = [
        *config_feeds(options),
        *ticker_feeds(options, watched_tickers(watchlists)),
        *chat_sources(chat),
    ]
    for src in [*sources, *extra]:
        out.setdefault(src.id, src)
    return list(out.values())


def feed_specs(options: FeedOptions, watchlists: Iterable[Watchlist]) -> list[FeedSpec]:
    """The specs of every HTTP feed the config implies for these watchlists."""
    return [s.spec for s in all_feeds(options, watchlists)]

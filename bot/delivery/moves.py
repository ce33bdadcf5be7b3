"""Price-move alerts: a message when a watched ticker's move from the previous close crosses a threshold.

``MoveMonitor.run_once()`` (an interval job, ``move_alerts.interval``, default 60 s) polls
quotes for the union of the tickers of subscribed watchlists - only symbols whose exchange is
in an enabled session right now, in batches through the QuoteSource (its cache, single-flight
and circuit breaker; an open breaker ends the round early) - and alerts each channel whose
watchlist holds a ticker when ``|change %|`` reaches one of ``move_alerts.thresholds``.

Once per threshold per ticker per session per trading day per channel: the outbox key and a
marker ``move:<day>:<session>:<symbol>:<threshold>:<channel>`` make that hold across restarts and
processes. Re-crossing the same threshold in the same session stays quiet; the same threshold
in another session (after hours after pre-market) or a bigger one later alerts again. When
several thresholds are crossed at once, one alert names the biggest and marks the rest.

The move is measured as the quote source measures it: pre-market and regular prices against
the previous regular close, after-hours prices against that day's close. Only prices labelled
with an enabled session count (a "closed" price is yesterday's move, never an alert), and the
alert's price line carries that label, so one posted before the open says "pre-market".
A subscription's ``sessions`` filter and ``min_move_pct`` (the smallest threshold its channel
gets) apply; mutes and quiet hours hold the alert like any other (``HeldReleaser`` delivers it
late or drops it when stale, logged and counted). The likely "why" is the most recent story the
channel's watchlist matched that mentions the ticker.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.config import MoveAlertsConfig
from bot.delivery.escape import clean_alert
from bot.delivery.scheduled import WatchlistCatalog, clock_time, queue_scheduled, short_day, watchlist_symbols
from bot.domain.format import format_price
from bot.domain.models import (
    Alert,
    ChannelRef,
    Quote,
    Story,
    Subscription,
    TickerLine,
    TradingSession,
    Watchlist,
)
from bot.domain.timeutil import as_utc
from bot.ports import (
    Clock,
    Job,
    MarkerStore,
    NewsStore,
    OutboxStore,
    QuoteSource,
    SubscriptionStore,
    TradingCalendar,
)

log = logging.getLogger(__name__)


class MoveStore(MarkerStore, NewsStore, OutboxStore, SubscriptionStore, Protocol):
    """The store capabilities move alerts use."""


BATCH_SIZE = 50  # symbols per QuoteSource call (Yahoo's quote endpoint takes about 50 per request)
WHY_SCAN = 25  # recent stories per ticker read to find the latest one the watchlist matched
_SLUG = {TradingSession.PRE: "pre", TradingSession.REGULAR: "regular", TradingSession.POST: "post"}
_PHRASE = {
    TradingSession.PRE: "pre-market",
    TradingSession.REGULAR: "in regular trading",
    TradingSession.POST: "after hours",
}


def move_key(day: date, session: TradingSession, symbol: str, threshold: float, channel: ChannelRef) -> str:
    """Outbox idempotency key and marker of one threshold crossing in one channel."""
    return (
        f"move:{day.isoformat()}:{_SLUG.get(session, session.name.lower())}:{symbol}:{threshold:g}:{channel}"
    )


def compose_move(
    quote: Quote,
    *,
    threshold: float,
    key: str,
    channel: ChannelRef,
    watchlists: Sequence[str],
    why: Story | None,
    since: datetime | None,
    tz: ZoneInfo,
    now: datetime,
) -> Alert:
    """The alert for a crossing (kind ``move``): title, the price line with its session, the why.

    The latest matched headline goes in ``summary``/``link``/``source`` so every renderer shows
    it linked (Discord shows no ``entries`` outside digests and briefings).
    """
    assert quote.change_pct is not None and quote.session is not None
    pct = quote.change_pct
    direction = "up" if pct > 0 else "down"
    title = f"{quote.symbol} {direction} {abs(pct):.2f}% {_PHRASE.get(quote.session, quote.session.value)}"
    base = "today's close" if quote.session is TradingSession.POST else "the previous close"
    note = f"Crossed the {threshold:g}% threshold"
    if quote.previous_close and quote.price is not None:
        note += (
            f": {format_price(quote.price, quote.currency)} against {base} "
            f"{format_price(quote.previous_close, quote.currency)}"
        )
    note += "."
    summary = link = source = ""
    published = None
    if why is not None:
        summary = f"Latest headline: {why.title}"
        link = why.canonical_url or why.link
        source = why.source
        published = why.published_at
    elif since is not None:
        local = as_utc(since).astimezone(tz)
        note += f" No matching headline since {short_day(local.date())} {clock_time(since, tz)}."
    alert = Alert(
        key=key,
        kind="move",
        channel=channel,
        watchlist=", ".join(dict.fromkeys(watchlists)),
        title=title,
        link=link,
        source=source,
        published_at=published,
        summary=summary,
        tickers=(TickerLine(quote.symbol, quote),),
        note=note,
        created_at=now,
    )
    return clean_alert(alert)


class MoveMonitor:
    """Polls quotes for watched tickers and queues move alerts (see the module docstring)."""

    def __init__(
        self,
        store: MoveStore,
        catalog: WatchlistCatalog,
        quotes: QuoteSource,
        calendar: TradingCalendar,
        move_alerts: MoveAlertsConfig,
        clock: Clock,
        *,
        tz: ZoneInfo,
        on_queued: Callable[[], None] | None = None,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._quotes = quotes
        self._calendar = calendar
        self._cfg = move_alerts
        self._tz = tz
        self._clock = clock
        self._on_queued = on_queued
        self._batch = max(1, batch_size)
        self.thresholds = tuple(sorted(self._cfg.thresholds))
        self.sessions = frozenset(self._cfg.sessions)
        self._only = {w.lower() for w in self._cfg.watchlists}
        self.stats: Counter[str] = Counter()
        self._marked: set[str] = set()
        self._lock = asyncio.Lock()
        self._paused_said = False

    @property
    def enabled(self) -> bool:
        return bool(self.thresholds and self.sessions)

    async def run_once(self) -> int:
        """One poll: quotes for watched tickers in an enabled session, alerts for new crossings."""
        if not self.enabled:
            return 0
        async with self._lock:
            now = self._clock.now()
            interest = await self._interest()
            live = [s for s in interest if self._session(now, s) in self.sessions]
            if not live:
                return 0
            self.stats["polls"] += 1
            quotes = await self._fetch(live)
            queued = 0
            stories: dict[str, list[Story]] = {}
            for sym in live:
                q = quotes.get(sym)
                if q is None or not q.available or q.change_pct is None:
                    self.stats["no_price"] += 1
                    continue
                if q.session not in self.sessions:
                    continue
                crossed = [t for t in self.thresholds if abs(q.change_pct) >= t]
                if crossed:
                    queued += await self._crossed(q, crossed, interest[sym], now, stories)
            if queued and self._on_queued is not None:
                self._on_queued()
            return queued

    async def _interest(self) -> dict[str, list[tuple[Subscription, Watchlist]]]:
        """Symbol -> the active subscriptions (with their watchlist) that watch it."""
        out: dict[str, list[tuple[Subscription, Watchlist]]] = {}
        for sub in sorted(await self._store.list_subscriptions(), key=lambda s: s.id):
            if sub.state != "active" or (self._only and sub.watchlist.lower() not in self._only):
                continue
            watchlist = self._catalog.get(sub.scope, sub.watchlist)
            if watchlist is None:
                continue
            for sym in watchlist_symbols(watchlist):
                out.setdefault(sym, []).append((sub, watchlist))
        return out

    def _session(self, now: datetime, symbol: str) -> TradingSession | None:
        try:
            return self._calendar.session_at(now, symbol)
        except Exception:
            return None

    async def _fetch(self, symbols: list[str]) -> dict[str, Quote]:
        out: dict[str, Quote] = {}
        for i in range(0, len(symbols), self._batch):
            if self._breaker_open():
                skipped = len(symbols) - i
                self.stats["skipped_breaker"] += skipped
                if not self._paused_said:
                    self._paused_said = True
                    log.warning(
                        "move alerts paused: Yahoo Finance is paused by its circuit breaker (%d symbols)",
                        skipped,
                    )
                break
            self._paused_said = False
            chunk = symbols[i : i + self._batch]
            try:
                out.update(await self._quotes.quotes(chunk))
            except Exception as exc:  # a QuoteSource should not raise; one bad round must not stop the job
                self.stats["quotes_failed"] += 1
                log.warning("move alerts: quotes for %d symbols failed: %s", len(chunk), exc)
            self.stats["symbols_polled"] += len(chunk)
        return out

    def _breaker_open(self) -> bool:
        """Whether the quote source's circuit breaker is open and not yet due for its probe.

        Once the pause is over the next batch goes out and
        is the breaker's probe (the source decides, so only one probe is in flight).
        """
        return self._quotes.status().breaker.paused(self._clock.now())

    async def _crossed(
        self,
        q: Quote,
        crossed: list[float],
        pairs: list[tuple[Subscription, Watchlist]],
        now: datetime,
        stories: dict[str, list[Story]],
    ) -> int:
        assert q.session is not None
        day = self._calendar.trading_day_of(now, q.symbol)
        by_channel: dict[ChannelRef, list[tuple[Subscription, Watchlist]]] = {}
        for sub, watchlist in pairs:
            by_channel.setdefault(sub.channel, []).append((sub, watchlist))
        queued = 0
        for channel, members in by_channel.items():
            allowed = [
                (s, w) for s, w in members if not s.options.sessions or q.session in s.options.sessions
            ]
            if not allowed:
                self.stats["filtered_session"] += 1
                continue
            floor = min(s.options.min_move_pct or 0.0 for s, _ in allowed)
            eligible = [t for t in crossed if t >= floor]
            if not eligible:
                self.stats["filtered_min_move"] += 1
                continue
            keys = {t: move_key(day, q.session, q.symbol, t, channel) for t in eligible}
            new = [t for t in eligible if not await self._has(keys[t])]
            if not new:
                continue
            top = max(new)
            sub = allowed[0][0]
            why, since = await self._why(q.symbol, [w for _, w in allowed], now, stories)
            alert = compose_move(
                q,
                threshold=top,
                key=keys[top],
                channel=channel,
                watchlists=[w.name for _, w in allowed],
                why=why,
                since=since,
                tz=self._tz,
                now=now,
            )
            queued += await self._enqueue(sub, alert, now)
            for t in eligible:  # the smaller thresholds crossed with it are done too
                await self._store.add_marker(keys[t], now=now)
                self._remember(keys[t])
        return queued

    async def _has(self, key: str) -> bool:
        if key in self._marked:
            return True
        if await self._store.has_marker(key):
            self._remember(key)
            return True
        return False

    def _remember(self, key: str) -> None:
        if len(self._marked) > 100_000:
            self._marked.clear()
        self._marked.add(key)

    async def _why(
        self,
        symbol: str,
        watchlists: Sequence[Watchlist],
        now: datetime,
        cache: dict[str, list[Story]],
    ) -> tuple[Story | None, datetime | None]:
        """The most recent story one of ``watchlists`` matched that mentions ``symbol``, and the window start."""
        since = self._window_start(now)
        if symbol not in cache:
            cache[symbol] = await self._store.stories(since=since, ticker=symbol, limit=WHY_SCAN)
        wanted = {(w.scope, w.name.lower()) for w in watchlists}
        matcher = self._catalog.matcher
        for story in cache[symbol]:
            if as_utc(story.published_at) > now:
                continue
            result = matcher.match(story.title, story.summary)
            if any((scope, name.lower()) in wanted for scope, name in result.watchlists):
                return story, since
        return None, since

    def _window_start(self, now: datetime) -> datetime:
        """Headlines count from the previous trading day's open (its session and the night since)."""
        try:
            day = self._calendar.trading_day_of(now)
            times = self._calendar.session_times(self._calendar.previous_trading_day(day))
        except Exception:
            return now - timedelta(days=1)
        return times.open if times is not None else now - timedelta(days=1)

    async def _enqueue(self, sub: Subscription, alert: Alert, now: datetime) -> int:
        q = await queue_scheduled(self._store, sub, alert, key=alert.key, now=now, tz=self._tz)
        extra = {"subscription_id": sub.id, "outcome": f"move_{q.status}" if q.queued else "move_duplicate"}
        if not q.queued:
            self.stats["duplicates"] += 1
            log.info("move alert %s was already queued (another process)", alert.key, extra=extra)
            return 0
        self.stats["queued"] += 1
        if q.hold:
            self.stats["held"] += 1
        log.info(
            "move alert for %s: %s%s",
            alert.channel,
            alert.title,
            f" (held: {q.hold})" if q.hold else "",
            extra=extra,
        )
        return 1

    # ------------------------------------------------------------ scheduling

    def jobs(self) -> list[Job]:
        """The polling job, every ``move_alerts.interval`` seconds (none without thresholds)."""
        if not self.enabled:
            log.info("move alerts are off (no move_alerts thresholds in the config)")
            return []
        interval = float(self._cfg.interval)
        return [
            Job(
                "moves:poll",
                self.run_once,
                every=interval,
                title=f"price-move alerts every {interval:g}s",
                on_error=f"it runs again in {interval:.0f} s",
            )
        ]

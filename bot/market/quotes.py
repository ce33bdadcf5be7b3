"""``QuoteSource`` backed by yfinance: batched, cached, single-flight, deadline-bound.

Where the extended-hours price comes from, and why
--------------------------------------------------
Primary: Yahoo's v7 quote endpoint, many symbols per request. Its rows carry the regular
price *and* ``preMarketPrice``/``postMarketPrice``, each with its own timestamp, plus
``regularMarketPreviousClose`` - everything a quote needs, exactly, in one small response
per 50 symbols. Fallback: yfinance's 1-minute bars with ``prepost=True`` (v8 chart), one
request per symbol. The chart endpoint needs no cookie/crumb, so it still works when the
crumb dance fails (consent walls, fc.yahoo.com blocked, "Invalid Crumb"), when the v7
response is garbage or rate-limited, or when v7 leaves a symbol out; it is also the only
way to tell a delisted symbol (404) from a transient gap. Its weak points are why it is
not primary: ~1000 bars per symbol, one request each, and a previous close that must be
inferred from chart metadata. The fallback also runs the other way: in pre-market and after
hours, a v7 row without a price from the current session (Yahoo omits the field until
something trades, and has dropped such fields before) is checked against the chart for up
to 8 symbols per fetch; one whose chart has nothing either is not checked again for 5 min.

We never trust Yahoo's ``marketState`` for the label. The price is the latest trade among
pre / regular / after hours, and the label is computed from our exchange calendar and that
trade's own timestamp: a pre-market price says "pre-market"; a regular-session price says
"regular" only while that session is live and "closed" afterwards (Friday's close on
Saturday); an after-hours trade keeps "after hours" until newer trades replace it. The
change is measured against the last regular close before the trade.

Deadlines
---------
yfinance runs in daemon worker threads. Every call to ``quotes`` returns within
``quote_timeout`` (default 4 s): what is not there by then comes back with ``price=None``
and a ``reason``. Late answers still fill the cache, so asking again later (e.g. to edit
an alert) gets them. A circuit breaker stops calling Yahoo after ``breaker_failures``
failed rounds in a row and probes again after ``breaker_reset`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from bot.config import MarketConfig
from bot.domain.errors import QuoteUnavailable, SourceError
from bot.domain.models import Quote, TradingSession
from bot.domain.rules import symbol_form
from bot.domain.status import QuoteSourceStatus
from bot.domain.timeutil import SystemClock
from bot.market.breaker import CircuitBreaker
from bot.market.pool import DaemonPool
from bot.market.sessions import ExchangeCalendar
from bot.market.yahoo import (
    BATCH_SIZE,
    Bars,
    NoPrices,
    NotFound,
    PricePoint,
    Snapshot,
    YahooTransport,
    classify,
)
from bot.ports import Clock, MarketCalendar

log = logging.getLogger(__name__)

QUOTE_SYMBOL = re.compile(r"^[A-Z0-9^][A-Z0-9.\-=^]{0,19}$")
_ACTIVE = frozenset({TradingSession.PRE, TradingSession.REGULAR, TradingSession.POST})
_V7_SHARE = 0.6  # of the deadline for the batch request; the rest is left for the chart fallback
_EXTENDED_CHECKS = 8  # symbols per round whose missing extended-hours price is looked up on the chart
_EXTENDED_RETRY = timedelta(minutes=5)
_EXTENDED_FRESH = timedelta(hours=12)

Kind = Literal["pre", "regular", "post"]


def normalize_symbol(text: str) -> str:
    """``" $nvda "`` -> ``"NVDA"``, ``"brk.b"`` -> ``"BRK-B"`` (the rules' spelling; no validation)."""
    return symbol_form(text)


def unavailable(symbol: str, reason: str) -> Quote:
    """A Quote without a price; ``reason`` says why, in words a user can act on."""
    return Quote(
        symbol=symbol,
        price=None,
        previous_close=None,
        change=None,
        change_pct=None,
        session=None,
        as_of=None,
        reason=reason,
    )


# ---------------------------------------------------------------------- pure quote logic


def _calendar_session(calendar: MarketCalendar, when: datetime, symbol: str) -> TradingSession | None:
    try:
        return calendar.session_at(when, symbol)
    except SourceError:
        return None
    except Exception:  # a calendar that cannot place this instant gives no label
        log.debug("calendar cannot place %s at %s", symbol, when, exc_info=True)
        return None


def _last_close(calendar: MarketCalendar, when: datetime, symbol: str) -> datetime | None:
    try:
        if isinstance(calendar, ExchangeCalendar):
            return calendar.previous_close(when, symbol)
        return calendar.previous_close(when)
    except Exception:
        return None


def pick_price(snap: Snapshot, calendar: MarketCalendar) -> tuple[Kind, PricePoint] | None:
    """The latest trade among pre-market, regular and after hours, and which it is.

    Extended-hours prices count only where the calendar agrees the trade time is in that
    session (so non-US symbols never get one, and a mislabelled timestamp is ignored).
    """
    candidates: list[tuple[Kind, PricePoint]] = []
    if snap.regular is not None:
        candidates.append(("regular", snap.regular))
    if snap.pre is not None and _calendar_session(calendar, snap.pre.at, snap.symbol) == TradingSession.PRE:
        candidates.append(("pre", snap.pre))
    if (
        snap.post is not None
        and _calendar_session(calendar, snap.post.at, snap.symbol) == TradingSession.POST
    ):
        candidates.append(("post", snap.post))
    if snap.last is not None:
        s = _calendar_session(calendar, snap.last.at, snap.symbol)
        last_kind: Kind = (
            "pre" if s == TradingSession.PRE else "post" if s == TradingSession.POST else "regular"
        )
        if last_kind != "regular" or snap.regular is None or snap.last.at > snap.regular.at:
            candidates.append((last_kind, snap.last))
    if not candidates:
        return None
    order = {"regular": 0, "post": 1, "pre": 1}
    return max(candidates, key=lambda c: (c[1].at, order[c[0]]))


def build_quote(snap: Snapshot, *, now: datetime, calendar: MarketCalendar) -> Quote:
    """Apply our session rules to what Yahoo sent: price, change, label (see module docs)."""
    symbol = snap.symbol
    picked = pick_price(snap, calendar)
    if picked is None:
        return unavailable(symbol, f"Yahoo Finance sent no price for {symbol}")
    kind, point = picked
    if kind == "regular":
        base = snap.previous_close  # the close before the regular price's own trading day
    else:  # extended hours move against the regular close just before them
        regular = snap.regular
        base = regular.price if regular is not None and regular.at < point.at else snap.previous_close
    now_session = _calendar_session(calendar, now, symbol)
    session: TradingSession | None
    if now_session is None:
        session = None
    elif kind == "pre":
        session = TradingSession.PRE
    elif kind == "post":
        session = TradingSession.POST
    else:
        last_close = _last_close(calendar, now, symbol)
        live = now_session == TradingSession.REGULAR and (last_close is None or point.at > last_close)
        session = TradingSession.REGULAR if live else TradingSession.CLOSED
    change = change_pct = None
    if base:
        change = point.price - base
        change_pct = change / base * 100.0
    return Quote(
        symbol=symbol,
        price=point.price,
        previous_close=base,
        change=change,
        change_pct=change_pct,
        session=session,
        as_of=point.at,
        currency=snap.currency,
        volume=snap.volume,
        name=snap.name,
    )


def last_day(bars: Bars, calendar: MarketCalendar) -> Bars:
    """The last trading day of a multi-day 1-minute chart, with that day's reference prices.

    The previous close is the last regular-session bar of the day before (the 5-day chart
    carries no official close for it); the regular price is Yahoo's own when it is from
    that day, else the day's last regular bar.
    """
    if not bars.closes:
        return bars
    sym = bars.symbol
    zone = calendar.zone(sym) if isinstance(calendar, ExchangeCalendar) else None
    tz = zone or ZoneInfo(bars.exchange_tz or "UTC")
    dates = [t.astimezone(tz).date() for t in bars.times]
    day = dates[-1]
    keep = [i for i, d in enumerate(dates) if d == day]
    before = [i for i, d in enumerate(dates) if d < day]

    def regular(indices: list[int]) -> list[int]:
        return [
            i for i in indices if _calendar_session(calendar, bars.times[i], sym) == TradingSession.REGULAR
        ]

    prev = regular(before) or before
    today = regular(keep)
    if bars.regular is not None and bars.regular.at.astimezone(tz).date() == day:
        reg: PricePoint | None = bars.regular
    else:
        reg = PricePoint(bars.closes[today[-1]], bars.times[today[-1]]) if today else None
    return Bars(
        symbol=sym,
        times=tuple(bars.times[i] for i in keep),
        closes=tuple(bars.closes[i] for i in keep),
        previous_close=bars.closes[prev[-1]] if prev else bars.previous_close,
        regular=reg,
        name=bars.name,
        currency=bars.currency,
        exchange_tz=bars.exchange_tz,
    )


# ---------------------------------------------------------------------- status


@dataclass(slots=True)
class _Counters:
    rounds: int = 0
    batch_requests: int = 0
    batch_failures: int = 0
    chart_fallbacks: int = 0
    chart_failures: int = 0
    extended_checks: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    late_results: int = 0
    last_error: str | None = None
    last_round_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class _Entry:
    quote: Quote
    valid_until: datetime


# ---------------------------------------------------------------------- the source


class YahooQuoteSource:
    """Quotes from Yahoo Finance through yfinance (see the module docstring for the rules).

    ``yahoo_url`` reroutes every Yahoo host to that base URL (``MARKETBOT_YAHOO_URL``; used
    to point the bot at a Yahoo-shaped server). ``cache_dir`` holds yfinance's disk caches.
    """

    def __init__(
        self,
        config: MarketConfig,
        calendar: MarketCalendar,
        *,
        yahoo_url: str | None = None,
        clock: Clock | None = None,
        cache_dir: Path | None = None,
        workers: int = 8,
    ) -> None:
        self.config = config
        self.calendar = calendar
        self.yahoo_url = yahoo_url
        self.timeout = float(config.quote_timeout)
        self._clock: Clock = clock or SystemClock()
        self._transport = YahooTransport(timeout=self.timeout, base_url=yahoo_url, cache_dir=cache_dir)
        self._pool = DaemonPool(workers, name="marketbot-yahoo")
        self._breaker = CircuitBreaker(
            name="Yahoo Finance quotes",
            failures=config.breaker_failures,
            reset=float(config.breaker_reset),
            clock=self._clock,
            logger=log,
        )
        self._cache: dict[str, _Entry] = {}
        self._inflight: dict[str, asyncio.Future[Quote]] = {}
        self._no_extended: dict[str, datetime] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._stats = _Counters()
        self._closed = False

    async def __aenter__(self) -> YahooQuoteSource:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ public API

    async def quotes(self, symbols: Sequence[str]) -> dict[str, Quote]:
        """Quotes for ``symbols`` (normalised to upper case), within ``quote_timeout``.

        Never raises for a symbol: one without a price gets ``price=None`` and a ``reason``.
        """
        wanted = list(dict.fromkeys(normalize_symbol(s) for s in symbols if s and s.strip()))
        now = self._clock.now()
        out: dict[str, Quote] = {}
        misses: list[str] = []
        for sym in wanted:
            if not QUOTE_SYMBOL.match(sym):
                out[sym] = unavailable(sym, f"{sym!r} is not a ticker symbol")
                continue
            entry = self._cache.get(sym)
            if entry is not None and now < entry.valid_until:
                self._stats.cache_hits += 1
                out[sym] = entry.quote
            else:
                self._stats.cache_misses += 1
                misses.append(sym)
        if misses:
            out.update(await self._fetch(misses))
        return {sym: out[sym] for sym in wanted}

    async def quote(self, symbol: str) -> Quote:
        """One symbol's quote (same rules as ``quotes``)."""
        sym = normalize_symbol(symbol)
        return (await self.quotes([sym]))[sym]

    def cached(self, symbol: str) -> Quote | None:
        """The cached quote for ``symbol`` if still fresh (no I/O)."""
        entry = self._cache.get(normalize_symbol(symbol))
        if entry is not None and self._clock.now() < entry.valid_until:
            return entry.quote
        return None

    async def bars(self, symbol: str) -> Bars:
        """The latest trading day's 1-minute bars, for charts. Raises QuoteUnavailable.

        Before anything trades in the morning Yahoo's 1-day chart is empty; then the last
        day with prices is cut from a 5-day chart.
        """
        sym = normalize_symbol(symbol)
        if not QUOTE_SYMBOL.match(sym):
            raise QuoteUnavailable(f"{sym!r} is not a ticker symbol", retryable=False)
        if not self._breaker.allow():
            raise QuoteUnavailable(self._paused_reason())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        bars = await self._bars_call(sym, "1d", self.timeout)
        if bars is None:
            week = await self._bars_call(sym, "5d", max(deadline - loop.time(), 0.05))
            bars = last_day(week, self.calendar) if week is not None else None
        if bars is None or not bars.closes:
            raise QuoteUnavailable(f"Yahoo Finance has no recent prices for {sym}")
        return bars

    async def _bars_call(self, sym: str, period: str, timeout: float) -> Bars | None:
        """One chart fetch under the deadline and the breaker; None when Yahoo had no prices."""
        try:
            bars = await self._pool.run(
                self._transport.bars, sym, period, self._tz_name(sym), timeout=timeout
            )
        except TimeoutError:
            self._transport.forget(sym)
            self._failed(f"Yahoo Finance did not answer within {self.timeout:g}s")
            raise QuoteUnavailable(
                f"no chart for {sym}: Yahoo Finance did not answer within {self.timeout:g}s"
            ) from None
        except NotFound as exc:
            self._breaker.record_success()
            raise QuoteUnavailable(str(exc), retryable=False) from None
        except NoPrices:
            self._breaker.record_success()
            return None
        except Exception as exc:
            err = classify(exc, what="chart", symbol=sym)
            self._failed(str(err))
            raise QuoteUnavailable(f"no chart for {sym}: {err}", retryable=err.retryable) from None
        self._breaker.record_success()
        return bars if bars.closes else None

    async def company_names(self, symbols: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """The quote source's names for ``symbols`` (Yahoo's shortName and longName), in
        batches; symbols it does not know are absent. Raises QuoteUnavailable when Yahoo does
        not answer (the caller tries again at its next refresh)."""
        wanted = [s for s in dict.fromkeys(normalize_symbol(x) for x in symbols) if QUOTE_SYMBOL.match(s)]
        if not self._breaker.allow():
            raise QuoteUnavailable(self._paused_reason())
        out: dict[str, tuple[str, ...]] = {}
        for i in range(0, len(wanted), BATCH_SIZE):
            chunk = wanted[i : i + BATCH_SIZE]
            try:
                out.update(await self._pool.run(self._transport.quote_names, chunk, timeout=self.timeout * 2))
            except TimeoutError:
                self._failed(f"Yahoo Finance did not answer within {self.timeout * 2:g}s")
                raise QuoteUnavailable(f"Yahoo Finance did not answer within {self.timeout * 2:g}s") from None
            except Exception as exc:
                err = classify(exc, what="quote")
                self._failed(str(err))
                raise QuoteUnavailable(f"no company names: {err}", retryable=err.retryable) from None
            self._breaker.record_success()
        return out

    def status(self) -> QuoteSourceStatus:
        """A snapshot for status displays (``marketbot quote --status``)."""
        s = self._stats
        return QuoteSourceStatus(
            endpoint=self.yahoo_url or "https://query1.finance.yahoo.com (via yfinance)",
            timeout=self.timeout,
            breaker=self._breaker.status(),
            cached_symbols=len(self._cache),
            in_flight=len(self._inflight),
            busy_workers=self._pool.busy,
            rounds=s.rounds,
            batch_requests=s.batch_requests,
            batch_failures=s.batch_failures,
            chart_fallbacks=s.chart_fallbacks,
            chart_failures=s.chart_failures,
            extended_checks=s.extended_checks,
            cache_hits=s.cache_hits,
            cache_misses=s.cache_misses,
            late_results=s.late_results,
            last_error=s.last_error,
            last_round_seconds=s.last_round_seconds,
        )

    def clear_cache(self) -> None:
        """Forget every cached quote (benchmarks, tests, ``--refresh``)."""
        self._cache.clear()

    async def aclose(self) -> None:
        """Stop fetching; pending callers get their answer, worker threads are abandoned."""
        if self._closed:
            return
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._pool.shutdown()
        self._transport.close()

    # ------------------------------------------------------------------ fetching

    async def _fetch(self, symbols: list[str]) -> dict[str, Quote]:
        if self._closed:
            return {s: unavailable(s, "the quote source is shut down") for s in symbols}
        futures: dict[str, asyncio.Future[Quote]] = {}
        new: list[str] = []
        for sym in symbols:
            fut = self._inflight.get(sym)
            if fut is not None and not fut.done():
                futures[sym] = fut  # single-flight: join the fetch already under way
            else:
                new.append(sym)
        if new:
            if not self._breaker.allow():
                reason = self._paused_reason()
                for sym in new:
                    futures[sym] = _resolved(unavailable(sym, reason))
            else:
                loop = asyncio.get_running_loop()
                mine = {sym: loop.create_future() for sym in new}
                self._inflight.update(mine)
                futures.update(mine)
                task = asyncio.create_task(self._round(new, mine), name=f"yahoo-quotes:{','.join(new[:5])}")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        await asyncio.wait(set(futures.values()), timeout=self.timeout)
        out: dict[str, Quote] = {}
        for sym, fut in futures.items():
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                out[sym] = fut.result()
            else:
                out[sym] = unavailable(
                    sym, f"price unavailable: Yahoo Finance did not answer within {self.timeout:g}s"
                )
        return out

    async def _round(self, symbols: list[str], futures: dict[str, asyncio.Future[Quote]]) -> None:
        """One fetch for ``symbols``: v7 batches, then the chart for whatever is missing."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + self.timeout
        self._stats.rounds += 1
        snaps: dict[str, Snapshot] = {}
        not_found: dict[str, str] = {}
        errors: list[str] = []
        try:
            chunks = [symbols[i : i + BATCH_SIZE] for i in range(0, len(symbols), BATCH_SIZE)]
            results = await asyncio.gather(
                *(
                    self._pool.run(
                        self._transport.quote_batch,
                        chunk,
                        timeout=self.timeout * _V7_SHARE,
                        on_late=self._late,
                    )
                    for chunk in chunks
                ),
                return_exceptions=True,
            )
            for batch in results:
                if isinstance(batch, BaseException):
                    self._stats.batch_failures += 1
                    errors.append(self._describe(batch, "quote"))
                else:
                    self._stats.batch_requests += 1
                    snaps.update(batch)
            rest = [s for s in symbols if s not in snaps]
            checks = self._extended_gaps(snaps, self._clock.now())
            remaining = deadline - loop.time()
            if (rest or checks) and remaining > 0.05:
                self._stats.chart_fallbacks += len(rest)
                self._stats.extended_checks += len(checks)
                targets = rest + checks
                charts = await asyncio.gather(
                    *(
                        self._pool.run(
                            self._transport.chart_snapshot,
                            s,
                            self._tz_name(s),
                            timeout=remaining,
                            on_late=None if s in snaps else self._late_snapshot,
                        )
                        for s in targets
                    ),
                    return_exceptions=True,
                )
                for sym, result in zip(targets, charts, strict=True):
                    if (
                        sym in snaps
                    ):  # an extended-hours check: the v7 answer stands unless the chart is newer
                        self._merge_extended(snaps, sym, result)
                    elif isinstance(result, NotFound):
                        not_found[sym] = str(result)
                    elif isinstance(result, BaseException):
                        self._stats.chart_failures += 1
                        self._transport.forget(sym)
                        errors.append(self._describe(result, "chart", sym))
                    else:
                        snaps[sym] = result
            now = self._clock.now()
            for sym in symbols:
                if sym in snaps:
                    q = build_quote(snaps[sym], now=now, calendar=self.calendar)
                    self._store(q, now)
                elif sym in not_found:
                    q = unavailable(sym, not_found[sym])
                    self._store(q, now, ttl=float(self.config.cache_ttl))
                else:
                    q = unavailable(sym, f"price unavailable: {errors[-1] if errors else 'no answer'}")
                _settle(futures[sym], q)
            if snaps or not_found:
                self._breaker.record_success()
            else:
                self._failed(errors[-1] if errors else "no answer")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # never let a bug leave callers hanging; log it once, here
            log.exception("Yahoo quote fetch for %s failed", ",".join(symbols))
            errors.append(f"internal error: {exc}")
        finally:
            for sym, fut in futures.items():
                _settle(fut, unavailable(sym, f"price unavailable: {errors[-1] if errors else 'cancelled'}"))
                if self._inflight.get(sym) is fut:
                    del self._inflight[sym]
            self._stats.last_round_seconds = loop.time() - started

    def _tz_name(self, symbol: str) -> str | None:
        """The symbol's exchange time zone, when our calendar knows the exchange."""
        if isinstance(self.calendar, ExchangeCalendar):
            zone = self.calendar.zone(symbol)
            return str(zone) if zone is not None else None
        return None

    def _extended_gaps(self, snaps: dict[str, Snapshot], now: datetime) -> list[str]:
        """Symbols in pre-market / after hours whose v7 row has no price from this session.

        Yahoo leaves the field out until something trades, and has dropped such fields
        before; the 1-minute chart is asked instead, for a few symbols per round, and a
        symbol whose chart had nothing either is not asked again for five minutes.
        """
        out: list[str] = []
        for sym, snap in snaps.items():
            session = _calendar_session(self.calendar, now, sym)
            if session not in (TradingSession.PRE, TradingSession.POST):
                continue
            point = snap.pre if session == TradingSession.PRE else snap.post
            fresh = (
                point is not None
                and now - point.at < _EXTENDED_FRESH
                and _calendar_session(self.calendar, point.at, sym) == session
            )
            if fresh or self._no_extended.get(sym, now) > now:
                continue
            out.append(sym)
            if len(out) >= _EXTENDED_CHECKS:
                break
        return out

    def _merge_extended(self, snaps: dict[str, Snapshot], sym: str, result: Snapshot | BaseException) -> None:
        snap = snaps[sym]
        now = self._clock.now()
        latest = max((p.at for p in (snap.regular, snap.pre, snap.post) if p is not None), default=None)
        if isinstance(result, BaseException):
            self._transport.forget(sym)
        elif result.last is not None and (latest is None or result.last.at > latest):
            session = _calendar_session(self.calendar, result.last.at, sym)
            if session in (TradingSession.PRE, TradingSession.POST):
                snaps[sym] = replace(snap, last=result.last)
                return
        until = now + _EXTENDED_RETRY
        if isinstance(self.calendar, ExchangeCalendar):
            with contextlib.suppress(Exception):
                until = min(until, self.calendar.next_change(now, sym)[0])
        self._no_extended[sym] = until

    def _describe(self, exc: BaseException, what: str, symbol: str | None = None) -> str:
        if isinstance(exc, TimeoutError):
            return f"Yahoo Finance did not answer within {self.timeout:g}s"
        return str(classify(exc, what=what, symbol=symbol))

    def _failed(self, error: str) -> None:
        self._stats.last_error = error
        if self._breaker.record_failure(error):
            self._transport.reset()  # the probe after the pause starts with a fresh session and crumb

    def _paused_reason(self) -> str:
        st = self._breaker.status()
        when = f" until {st.retry_at:%H:%M:%S} UTC" if st.retry_at else ""
        return f"Yahoo Finance paused{when} after {st.consecutive_failures} failed requests ({st.last_error})"

    # ------------------------------------------------------------------ cache

    def _ttl(self, symbol: str, now: datetime) -> float:
        session = _calendar_session(self.calendar, now, symbol)
        return float(self.config.active_cache_ttl if session in _ACTIVE else self.config.cache_ttl)

    def _store(self, quote: Quote, now: datetime, ttl: float | None = None) -> None:
        ttl = self._ttl(quote.symbol, now) if ttl is None else ttl
        valid_until = now + timedelta(seconds=ttl)
        if isinstance(self.calendar, ExchangeCalendar):
            # a quote never outlives the session it was labelled in
            with contextlib.suppress(Exception):
                change, _ = self.calendar.next_change(now, quote.symbol)
                valid_until = min(valid_until, change)
        if len(self._cache) > 10_000:
            self._evict(now)
        self._cache[quote.symbol] = _Entry(quote, valid_until)

    def _evict(self, now: datetime) -> None:
        for sym in [s for s, e in self._cache.items() if e.valid_until <= now]:
            del self._cache[sym]
        while len(self._cache) > 10_000:
            del self._cache[next(iter(self._cache))]

    def _late(self, snaps: dict[str, Snapshot]) -> None:
        for snap in snaps.values():
            self._late_snapshot(snap)

    def _late_snapshot(self, snap: Snapshot) -> None:
        """A fetch that missed its deadline finished after all: keep its answer for next time."""
        if self._closed:
            return
        now = self._clock.now()
        entry = self._cache.get(snap.symbol)
        quote = build_quote(snap, now=now, calendar=self.calendar)
        if quote.price is None:
            return
        if entry is None or entry.quote.price is None or (entry.quote.as_of or now) <= (quote.as_of or now):
            self._stats.late_results += 1
            self._store(quote, now)


def _resolved(quote: Quote) -> asyncio.Future[Quote]:
    fut: asyncio.Future[Quote] = asyncio.get_running_loop().create_future()
    fut.set_result(quote)
    return fut


def _settle(fut: asyncio.Future[Quote], quote: Quote) -> None:
    if not fut.done():
        fut.set_result(quote)

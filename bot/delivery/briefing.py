"""Pre-market briefings: one message per subscribed channel before the open, on trading days only.

A subscription with ``briefing: premarket`` (config) or ``/watch subscribe NAME briefing``
(chat) gets, at ``briefing.time`` (default 08:30 in the config's time zone) on each day the
exchange trades, ONE message: the watchlist's tickers sorted by the size of their pre-market
move, then the top stories the watchlist matched since the previous regular close, one line
per event (a Story is already a cluster; near-duplicate titles are folded as well).

Scheduling (``schedule``): an APScheduler 3 ``CronTrigger`` at the configured wall-clock time
in the config's zone (so 08:30 stays 08:30 across daylight-saving changes); at fire time the
exchange calendar decides - no briefing on weekends, holidays (2026-11-26, Thanksgiving) or
after the open. A one-minute check and a start-up catch-up send a briefing that the cron
missed (a restart, a suspended host, a ``MARKETBOT_NOW`` clock) while inside ``briefing.grace``
after the scheduled time; outside the window it is logged and counted, never sent.

Exactly once: the outbox key ``briefing:<date>:<subscription id>`` is unique (several
processes may race; one row wins) and a marker with the same key records that the day's
briefing was handled, so restarts do not even rebuild it. Quiet hours and mutes hold it like
any alert; ``HeldReleaser`` delivers it as itself, marked late, when the hold ends (or drops it
when stale under ``delivery.held: drop-stale``), logged and counted either way.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.config import BriefingConfig
from bot.delivery.escape import clean_alert
from bot.delivery.scheduled import WatchlistCatalog, clock_time, queue_scheduled, short_day, watchlist_symbols
from bot.domain.models import (
    Alert,
    DigestEntry,
    Match,
    Quote,
    Story,
    Subscription,
    TickerLine,
    TradingSession,
    Watchlist,
)
from bot.domain.rules import Matcher
from bot.domain.stories import ClusterIndex
from bot.domain.timeutil import as_utc, format_duration
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


class BriefingStore(MarkerStore, NewsStore, OutboxStore, SubscriptionStore, Protocol):
    """The store capabilities briefings use."""


EXCHANGE_NAMES = {"XNYS": "NYSE", "XNAS": "Nasdaq", "XTSE": "TSX", "XLON": "LSE", "XTKS": "TSE"}
# exchange_calendars' short holiday names -> the names the exchange itself uses
HOLIDAY_NAMES = {
    "Thanksgiving": "Thanksgiving Day",
    "Christmas": "Christmas Day",
    "July 4th": "Independence Day",
    "President's Day": "Washington's Birthday",
    "Juneteenth National Independence Day": "Juneteenth",
}
LATE_AFTER = timedelta(minutes=5)  # a briefing sent later than this after its time says so
STORY_SCAN_LIMIT = 5000  # stories read per briefing (a long weekend of busy feeds fits)
MAX_TICKER_LINES = 25  # Discord allows 25 embed fields; the rest is summarised in the note
FOLD_THRESHOLD = 80.0  # title similarity (0-100) at which two stories are shown as one line
CHECK_INTERVAL = 60.0  # seconds between checks for a briefing the cron job missed


def briefing_key(day: date, subscription_id: int) -> str:
    """Outbox idempotency key and marker of one subscription's briefing on one trading day."""
    return f"briefing:{day.isoformat()}:{subscription_id}"


def exchange_name(code: str) -> str:
    """``XNYS`` -> ``NYSE`` (the code itself for exchanges without a short name here)."""
    return EXCHANGE_NAMES.get(code.upper(), code.upper())


def holiday_display(name: str) -> str:
    return HOLIDAY_NAMES.get(name, name)


def closed_reason(calendar: TradingCalendar, at: datetime, tz: ZoneInfo) -> str | None:
    """Why no pre-market briefing goes out at ``at`` (weekend, holiday, after the open), or None.

    Pure calendar work (no network): ``NYSE is closed on 2026-11-26 (Thanksgiving Day)``.
    Raises ValidationError for a date outside the exchange calendar's range.
    """
    name = exchange_name(calendar.exchange)
    day = calendar.local_day(at)
    times = calendar.session_times(day)
    if times is None:
        holiday = calendar.holiday_name(day)
        if holiday:
            return f"{name} is closed on {day.isoformat()} ({holiday_display(holiday)})"
        if day.weekday() >= 5:
            return f"{name} is closed on {day.isoformat()} ({day:%A})"
        return f"{name} is closed on {day.isoformat()}"
    if at >= times.open:
        return (
            f"{name} opened at {clock_time(times.open, tz)} on {day.isoformat()}: "
            "the pre-market briefing goes out before the open"
        )
    return None


def _watch_key(scope: str, name: str) -> tuple[str, str]:
    return scope, name.lower()


# ---------------------------------------------------------------- stories


@dataclass(slots=True)
class StoryLine:
    """One event in a briefing: the representative story and every outlet that carried it."""

    story: Story
    outlets: list[str]
    tickers: list[str]
    folded: int = 0  # other stories folded into this line

    def entry(self) -> DigestEntry:
        if len(self.outlets) <= 2:
            source = ", ".join(self.outlets)
        else:
            source = f"{self.outlets[0]} +{len(self.outlets) - 1} more"
        return DigestEntry(
            title=self.story.title,
            link=self.story.canonical_url or self.story.link,
            source=source,
            published_at=self.story.published_at,
            tickers=tuple(self.tickers),
        )


def _outlets(story: Story) -> list[str]:
    names = [story.source, *(s.source for s in story.sources)]
    return list(dict.fromkeys(n.strip() for n in names if n and n.strip()))


def fold_stories(
    items: Sequence[tuple[Story, Sequence[str]]], *, threshold: float = FOLD_THRESHOLD
) -> list[StoryLine]:
    """Fold stories with the same URL or a near-identical title into one line each, ranked.

    Oldest first, so the first report of an event represents it; a later copy adds its outlets.
    Ranked by how many outlets carried the event, then newest first.
    """
    index = ClusterIndex(threshold=threshold, window=timedelta(days=30), min_words=4)
    lines: dict[str, StoryLine] = {}
    for story, tickers in sorted(items, key=lambda p: (p[0].published_at, p[0].id)):
        at = as_utc(story.published_at)
        hit = index.find(title=story.title, canonical_url=story.canonical_url, at=at)
        line = lines.get(hit.story_id) if hit is not None else None
        if line is None:
            line = StoryLine(story, _outlets(story), list(dict.fromkeys(tickers)))
            lines[story.id] = line
            index.add(story.id, title=story.title, canonical_url=story.canonical_url, at=at)
            continue
        line.folded += 1
        line.outlets = list(dict.fromkeys([*line.outlets, *_outlets(story)]))
        line.tickers = list(dict.fromkeys([*line.tickers, *tickers]))
        index.add(line.story.id, title=story.title, canonical_url=story.canonical_url, at=at)
    return sorted(
        lines.values(), key=lambda s: (-len(s.outlets), -as_utc(s.story.published_at).timestamp(), s.story.id)
    )


def _match_all(
    matcher: Matcher, stories: Sequence[Story], at: datetime
) -> list[tuple[Story, dict[tuple[str, str], Match]]]:
    """Each story published by ``at`` that some watchlist matches, with its matches by watchlist."""
    out: list[tuple[Story, dict[tuple[str, str], Match]]] = []
    for story in stories:
        if as_utc(story.published_at) > at:
            continue
        result = matcher.match(story.title, story.summary)
        if result:
            out.append((story, {_watch_key(m.scope, m.watchlist): m for m in result.matches}))
    return out


# ---------------------------------------------------------------- tickers


def _premarket_quote(q: Quote) -> Quote:
    """No pre-market trade yet: the pre-market price is the last close, unchanged."""
    return dataclasses.replace(
        q, previous_close=q.price, change=0.0, change_pct=0.0, session=TradingSession.PRE, reason=None
    )


def _volume(v: int) -> str:
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if v >= div:
            return f"{v / div:.1f}{unit}"
    return str(v)


def ticker_lines(
    symbols: Sequence[str], quotes: Mapping[str, Quote], calendar: TradingCalendar, at: datetime
) -> tuple[list[TickerLine], list[str], dict[str, str]]:
    """Ticker lines sorted by the size of their move (no price last), symbols without a
    pre-market trade yet, and why each unavailable price is missing."""
    lines: list[TickerLine] = []
    untraded: list[str] = []
    missing: dict[str, str] = {}
    for sym in symbols:
        q = quotes.get(sym)
        if q is None or not q.available:
            reason = (q.reason if q is not None else None) or "price unavailable"
            missing[sym] = reason.removeprefix("price unavailable: ").removeprefix(f"{sym}: ")
            lines.append(TickerLine(sym, None))
            continue
        if q.session is not TradingSession.PRE and _session(calendar, at, sym) is TradingSession.PRE:
            untraded.append(sym)
            q = _premarket_quote(q)
        lines.append(TickerLine(sym, q))

    def rank(line: TickerLine) -> tuple[int, float, str]:
        q = line.quote
        if q is None:
            return (1, 0.0, line.symbol)
        return (0, -abs(q.change_pct or 0.0), line.symbol)

    return sorted(lines, key=rank), untraded, missing


def _session(calendar: TradingCalendar, at: datetime, symbol: str) -> TradingSession | None:
    try:
        return calendar.session_at(at, symbol)
    except Exception:  # a symbol whose exchange the calendar cannot place gets no pre-market treatment
        return None


# ---------------------------------------------------------------- the service


@dataclass(frozen=True, slots=True)
class BriefingPlan:
    """What a briefing at an instant would be: the alert, or why there is none.

    ``since`` is the previous regular close (the start of the story window), ``missing`` the
    symbols without a price and why, ``stories`` how many matched stories were considered.
    """

    alert: Alert | None
    reason: str = ""
    day: date | None = None
    since: datetime | None = None
    missing: Mapping[str, str] = field(default_factory=dict)
    stories: int = 0


@dataclass(frozen=True, slots=True)
class _Context:
    """What every briefing of one run shares: the day, quotes and the matched stories."""

    at: datetime
    day: date
    since: datetime
    quotes: Mapping[str, Quote]
    matched: list[tuple[Story, dict[tuple[str, str], Match]]]


class BriefingService:
    """Builds, schedules and queues pre-market briefings (see the module docstring)."""

    def __init__(
        self,
        store: BriefingStore,
        catalog: WatchlistCatalog,
        quotes: QuoteSource,
        calendar: TradingCalendar,
        briefing: BriefingConfig,
        clock: Clock,
        *,
        tz: ZoneInfo,
        on_queued: Callable[[], None] | None = None,
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._quotes = quotes
        self._calendar = calendar
        self._cfg = briefing
        self._tz = tz
        self._clock = clock
        self._on_queued = on_queued
        hour, minute = (int(p) for p in self._cfg.time.split(":"))
        self.time = time(hour, minute)
        self.grace = timedelta(seconds=self._cfg.grace)
        self.exchange = exchange_name(calendar.exchange)
        self.stats: Counter[str] = Counter()
        self._lock = asyncio.Lock()
        self._told: set[tuple[date, str]] = set()  # (day, what): day-level log lines said once

    # ------------------------------------------------------------ calendar

    def slot(self, day: date) -> datetime:
        """The scheduled instant on a (config time zone) calendar date."""
        return as_utc(datetime.combine(day, self.time, tzinfo=self._tz))

    def _local_date(self, when: datetime) -> date:
        return as_utc(when).astimezone(self._tz).date()

    def last_slot(self, now: datetime) -> datetime:
        """The latest scheduled instant at or before ``now``."""
        today = as_utc(now).astimezone(self._tz).date()
        slot = self.slot(today)
        return slot if slot <= now else self.slot(today - timedelta(days=1))

    def closed_reason(self, at: datetime) -> str | None:
        """Why no pre-market briefing goes out at ``at`` (weekend, holiday, after the open), or None."""
        return closed_reason(self._calendar, as_utc(at), self._tz)

    # ------------------------------------------------------------ building

    async def prepare(self, subscription: Subscription, at: datetime) -> BriefingPlan:
        """The briefing ``subscription`` would get at ``at``, or why it would get none."""
        at = as_utc(at)
        reason = self.closed_reason(at)
        if reason is not None:
            return BriefingPlan(None, reason)
        watchlist = self._catalog.get(subscription.scope, subscription.watchlist)
        if watchlist is None:
            return BriefingPlan(None, f"watchlist {subscription.watchlist!r} no longer exists")
        ctx = await self._context(at, [watchlist])
        return self._compose(subscription, watchlist, ctx)

    async def build(self, subscription: Subscription, at: datetime) -> Alert | None:
        """The briefing alert at ``at``; None when there is none (``prepare`` says why)."""
        return (await self.prepare(subscription, at)).alert

    async def _context(self, at: datetime, watchlists: Iterable[Watchlist]) -> _Context:
        day = self._calendar.local_day(at)
        since = self._calendar.previous_close(at)
        symbols = list(dict.fromkeys(s for w in watchlists for s in watchlist_symbols(w)))
        quotes: dict[str, Quote] = {}
        if symbols:
            try:
                quotes = dict(await self._quotes.quotes(symbols))
            except Exception as exc:  # a QuoteSource should not raise; never let it stop a briefing
                self.stats["quotes_failed"] += 1
                log.warning("briefing quotes failed, the briefing goes without prices: %s", exc)
        stories = await self._store.stories(since=since, limit=STORY_SCAN_LIMIT)
        if len(stories) >= STORY_SCAN_LIMIT:
            log.warning(
                "briefing: %d stories or more since %s; reading the newest %d",
                STORY_SCAN_LIMIT,
                since,
                STORY_SCAN_LIMIT,
            )
        # a long weekend can hold thousands of stories: match them off the event loop
        matched = await asyncio.to_thread(_match_all, self._catalog.matcher, stories, at)
        return _Context(at=at, day=day, since=since, quotes=quotes, matched=matched)

    def _compose(self, sub: Subscription, watchlist: Watchlist, ctx: _Context) -> BriefingPlan:
        symbols = watchlist_symbols(watchlist)
        lines, untraded, missing = ticker_lines(symbols, ctx.quotes, self._calendar, ctx.at)
        key = _watch_key(watchlist.scope, watchlist.name)
        mine = [(story, matches[key].tickers) for story, matches in ctx.matched if key in matches]
        ranked = fold_stories(mine)
        shown = ranked[: self._cfg.max_stories]
        note = self._note(ctx, lines, untraded, missing, shown=len(shown), total=len(ranked))
        alert = Alert(
            key=briefing_key(ctx.day, sub.id),
            kind="briefing",
            channel=sub.channel,
            watchlist=watchlist.name,
            title=f"Pre-market briefing: {watchlist.name}, {short_day(ctx.day)}",
            tickers=tuple(lines[:MAX_TICKER_LINES]),
            entries=tuple(s.entry() for s in shown),
            note=note,
            created_at=ctx.at,
        )
        return BriefingPlan(
            clean_alert(alert), day=ctx.day, since=ctx.since, missing=missing, stories=len(mine)
        )

    def _note(
        self,
        ctx: _Context,
        lines: Sequence[TickerLine],
        untraded: Sequence[str],
        missing: Mapping[str, str],
        *,
        shown: int,
        total: int,
    ) -> str:
        out: list[str] = []
        times = self._calendar.session_times(ctx.day)
        if times is not None:
            head = f"{self.exchange} opens at {clock_time(times.open, self._tz)}"
            if times.early_close:
                head += f" and closes early at {clock_time(times.close, self._tz)}"
            out.append(head + ".")
        if len(lines) > MAX_TICKER_LINES:
            rest = [t.symbol for t in lines[MAX_TICKER_LINES:]]
            out.append(f"{len(rest)} more tickers with smaller moves: {', '.join(rest)}.")
        if untraded:
            out.append(f"No pre-market trades yet (unchanged from the close): {', '.join(untraded)}.")
        if missing:
            by_reason: dict[str, list[str]] = {}
            for sym, why in sorted(missing.items()):
                by_reason.setdefault(why, []).append(sym)
            out.extend(
                f"No price for {', '.join(syms)}: {why.rstrip('. ')}." for why, syms in by_reason.items()
            )
        volumes = [
            f"{t.symbol} {_volume(t.quote.volume)}"
            for t in lines[:MAX_TICKER_LINES]
            if t.quote and t.quote.volume
        ]
        if volumes:
            out.append("Last session volume: " + ", ".join(volumes) + ".")
        since_local = as_utc(ctx.since).astimezone(self._tz)
        window = f"since the close on {short_day(since_local.date())} {clock_time(ctx.since, self._tz)}"
        closed = self._closed_days(since_local.date(), ctx.day)
        if closed:
            window += f" ({self.exchange} was closed {closed})"
        if total == 0:
            out.append(f"No matching stories {window}.")
        elif shown < total:
            out.append(f"Top {shown} of {total} matching stories {window}.")
        else:
            out.append(f"{total} matching {'story' if total == 1 else 'stories'} {window}.")
        return "\n".join(out)

    def _closed_days(self, after: date, before: date) -> str:
        """Weekday holidays strictly between two trading days, in words."""
        parts = []
        d = after + timedelta(days=1)
        while d < before:
            if d.weekday() < 5:
                name = self._calendar.holiday_name(d)
                parts.append(f"on {short_day(d)}" + (f" for {holiday_display(name)}" if name else ""))
            d += timedelta(days=1)
        return ", ".join(parts)

    # ------------------------------------------------------------ sending

    async def run_due(self, *, now: datetime | None = None, startup: bool = False) -> int:
        """Queue every briefing due now that was not handled yet; returns how many were queued.

        Due means: inside ``briefing.grace`` after the scheduled time, on a trading day, before
        the open. With ``startup`` a briefing missed outside the window is logged and counted.
        """
        async with self._lock:
            now = as_utc(now or self._clock.now())
            slot = self.last_slot(now)
            if now - slot > self.grace:
                if startup and self._local_date(slot) == self._local_date(now):
                    await self._report_missed(slot, now)  # today's; older ones are not news
                return 0
            reason = self.closed_reason(now)
            day = self._calendar.local_day(now)
            if reason is not None:
                if (day, "closed") not in self._told:
                    self._told.add((day, "closed"))
                    self.stats["skipped_closed"] += 1
                    log.info("no pre-market briefing today: %s", reason)
                return 0
            todo: list[tuple[Subscription, Watchlist, str]] = []
            for sub in await self._subscriptions():
                key = briefing_key(day, sub.id)
                if sub.state == "broken":
                    self._tell_once(
                        day, key, "skipped_broken", sub, f"subscription broken: {sub.broken_reason}"
                    )
                    continue
                if await self._store.has_marker(key):
                    continue
                watchlist = self._catalog.get(sub.scope, sub.watchlist)
                if watchlist is None:
                    self._tell_once(day, key, "skipped_no_watchlist", sub, "its watchlist no longer exists")
                    continue
                todo.append((sub, watchlist, key))
            if not todo:
                return 0
            ctx = await self._context(now, [w for _, w, _ in todo])
            queued = 0
            for sub, watchlist, key in todo:
                plan = self._compose(sub, watchlist, ctx)
                assert plan.alert is not None
                queued += await self._enqueue(sub, plan.alert, key, slot=slot, now=now)
            if queued and self._on_queued is not None:
                self._on_queued()
            return queued

    async def catch_up(self) -> int:
        """At start-up: send a briefing missed by a restart inside the grace window (once)."""
        return await self.run_due(startup=True)

    async def _subscriptions(self) -> list[Subscription]:
        subs = await self._store.list_subscriptions()
        return sorted((s for s in subs if s.options.briefing == "premarket"), key=lambda s: s.id)

    async def _enqueue(
        self, sub: Subscription, alert: Alert, key: str, *, slot: datetime, now: datetime
    ) -> int:
        late_by = now - slot
        if late_by > LATE_AFTER:
            alert = dataclasses.replace(
                alert,
                late=True,
                note=(
                    f"Sent {format_duration(late_by)} late: scheduled for {clock_time(slot, self._tz)}, "
                    f"sent at {clock_time(now, self._tz)}.\n{alert.note}"
                ),
            )
        q = await queue_scheduled(self._store, sub, alert, key=key, now=now, tz=self._tz)
        await self._store.add_marker(key, now=now)
        extra = {
            "subscription_id": sub.id,
            "outcome": f"briefing_{q.status}" if q.queued else "briefing_duplicate",
        }
        if not q.queued:
            self.stats["duplicates"] += 1
            log.info(
                "briefing %s was already queued (another process, or before a restart)", key, extra=extra
            )
            return 0
        self.stats["queued"] += 1
        if late_by > LATE_AFTER:
            self.stats["late"] += 1
        if q.hold:
            self.stats["held"] += 1
            log.info(
                "holding the pre-market briefing for %s (%s): %s",
                sub.channel,
                sub.watchlist,
                q.hold,
                extra=extra,
            )
        else:
            log.info(
                "queued the pre-market briefing for %s (%s)%s",
                sub.channel,
                sub.watchlist,
                f", {format_duration(late_by)} late" if late_by > LATE_AFTER else "",
                extra=extra,
            )
        return 1

    async def _report_missed(self, slot: datetime, now: datetime) -> None:
        """A briefing whose window passed while the bot was down: say so (it is not sent)."""
        try:
            if self.closed_reason(slot) is not None:
                return  # nothing was due that day
        except Exception:
            return
        day = self._calendar.local_day(slot)
        for sub in await self._subscriptions():
            key = briefing_key(day, sub.id)
            if sub.state == "broken" or await self._store.has_marker(key):
                continue
            self.stats["missed"] += 1
            log.warning(
                "the pre-market briefing for %s (%s) on %s was not sent: it was due at %s and it is now %s, "
                "past the %s grace window (briefing.grace)",
                sub.channel,
                sub.watchlist,
                day.isoformat(),
                clock_time(slot, self._tz),
                clock_time(now, self._tz),
                format_duration(self.grace),
                extra={"subscription_id": sub.id, "outcome": "briefing_missed"},
            )

    def _tell_once(self, day: date, key: str, what: str, sub: Subscription, why: str) -> None:
        if (day, key) in self._told:
            return
        self._told.add((day, key))
        if len(self._told) > 10_000:
            self._told = {k for k in self._told if k[0] >= day}
        self.stats[what] += 1
        log.warning(
            "no pre-market briefing for %s (%s): %s",
            sub.channel,
            sub.watchlist,
            why,
            extra={"subscription_id": sub.id, "outcome": what},
        )

    # ------------------------------------------------------------ scheduling

    def jobs(self, *, catch_up: bool = True) -> list[Job]:
        """The briefing jobs (and a warning now if ``briefing.time`` can never be due).

        A daily run at ``briefing.time`` in the config's zone (the calendar decides at fire time),
        a one-minute check for a briefing the daily run missed inside the grace window, and (with
        ``catch_up``) a start-up run that sends one missed by a restart.
        """
        self._warn_if_never_due()
        retry = "the next check retries inside the grace window"
        jobs = [
            Job(
                "briefing:premarket",
                self.run_due,
                daily_at=self.time,
                tz=self._tz,
                grace=self.grace.total_seconds(),
                title=f"pre-market briefing at {self._cfg.time} {self._tz.key}",
                on_error=retry,
            ),
            Job(
                "briefing:check",
                self.run_due,
                every=CHECK_INTERVAL,
                jitter=5,
                title="missed pre-market briefing check",
                on_error=retry,
            ),
        ]
        if catch_up:
            jobs.append(
                Job(
                    "briefing:catch-up",
                    self.catch_up,
                    at_start=True,
                    title="pre-market briefing catch-up at start-up",
                    on_error="the daily run and the one-minute check still send it within the grace window",
                )
            )
        return jobs

    def _warn_if_never_due(self) -> None:
        """A briefing time at or after the open never sends anything: say so at start-up."""
        try:
            today = self._calendar.local_day(self._clock.now())
            day = today if self._calendar.is_trading_day(today) else self._calendar.next_trading_day(today)
            times = self._calendar.session_times(day)
        except Exception:
            return
        if times is None:
            return
        slot = self.slot(day)
        if self._calendar.local_day(slot) != day or slot >= times.open:
            log.warning(
                "briefing.time %s (%s) is not before %s opens (%s): no pre-market briefing will be sent; "
                "pick a time before the open, e.g. 08:30",
                self._cfg.time,
                self._tz.key,
                self.exchange,
                clock_time(times.open, self._tz),
            )

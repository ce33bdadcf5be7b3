"""From new stories to queued alerts: match, pick subscriptions, apply their options, enqueue.

``AlertPipeline.process(stories)`` is called by ingestion with each poll's new stories.
A channel gets one message per story (outbox key ``story:<story>:ch:<channel>``), however many
of its subscriptions match it: the message names every matched watchlist and the union of
their terms and tickers, and goes out as soon as ANY of those subscriptions allows — the most
permissive one decides (its id is the row's ``subscription_id``: its hourly cap counts it).
For every (story, subscription) the options are applied in this order:

1. the subscription is broken → not queued (logged, counted: it would fail again);
2. ``sessions`` set and the market is in another session → filtered;
3. ``min_move_pct`` set and no matched ticker moved that much → filtered (a price that is
   late is waited for in the background, up to ``delivery.late_price_wait``);
4. muted (``mute_until``) or in ``quiet_hours`` → queued as ``held`` (one digest later);
5. ``max_per_hour`` reached → queued as ``held`` (folded into a digest when there is room);
6. otherwise queued ``pending`` for the dispatcher.

A channel's message is queued ``pending`` when one of its subscriptions reaches 6; else
``held`` under the subscription whose hold ends first. Nothing is dropped silently: filters
and holds are logged and counted in ``stats``.
Quotes are fetched once per batch under ``delivery.quote_wait``; an alert never waits longer
for a price: it is queued with "price unavailable" and, when the price arrives later, its
queued payload is updated or, if already sent, an ``edit:`` row edits the message.

The hand-off from ingestion is durable (see ``bot.ingest.pipeline``): every story arrives
with a stored hand-off, which is finished here only after its rows are queued — or, for a
``min_move_pct`` decision waiting for a late price, after that decision. "Also reported by"
works the same way, a throttled follow-up keeping its hand-off (due when the throttle ends).
``resume()`` finishes whatever a crash, a shutdown or a database error left behind; the app
runs it at start-up and every 30 s. Re-processing is harmless: outbox keys are idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from bot.config import DeliveryConfig
from bot.delivery.compose import (
    channel_story_key,
    compose_followup,
    compose_story,
    edit_key,
    hold_reason,
    in_quiet_hours,
    largest_move,
    merge_matches,
    missing_prices,
    order_tickers,
    quiet_hours_end,
    story_key,
    with_quotes,
)
from bot.domain.models import (
    ChannelRef,
    Match,
    Quote,
    Story,
    StorySource,
    Subscription,
    TickerLine,
    TradingSession,
)
from bot.domain.records import ChatFeed, OutboxEntry, OutboxStatus
from bot.domain.rules import Matcher
from bot.ports import Clock, MarketCalendar, NewsStore, OutboxStore, QuoteSource, SubscriptionStore

log = logging.getLogger(__name__)


class PipelineStore(NewsStore, OutboxStore, SubscriptionStore, Protocol):
    """The store capabilities the alert pipeline uses."""


RESUME_BATCH = 500  # hand-offs finished per resume() round


def _available(q: Quote | None) -> bool:
    return q is not None and q.available


class MatcherSource(Protocol):
    """Where the compiled matcher (and the feeds added from chat) come from (``bot.catalog.Catalog``)."""

    @property
    def matcher(self) -> Matcher: ...

    def chat_feeds(self, scope: str | None = None) -> list[ChatFeed]: ...


@dataclass(frozen=True, slots=True)
class _Member:
    """A subscription of the channel whose watchlist matched the story."""

    sub: Subscription
    match: Match
    watchlist_tickers: frozenset[str]


@dataclass(frozen=True, slots=True)
class _Planned:
    """A story's message for one channel, and the subscriptions that want it there."""

    story: Story
    channel: ChannelRef
    members: tuple[_Member, ...]
    match: Match  # the members' matches merged
    tickers: tuple[TickerLine, ...]
    detected: tuple[str, ...]

    @property
    def key(self) -> str:
        return channel_story_key(self.story.id, self.channel)

    @property
    def keys(self) -> list[str]:
        """Its key and the per-subscription keys of rows queued before one message per channel."""
        return [self.key, *(story_key(self.story.id, m.sub.id) for m in self.members)]


def _workspace_of(sub: Subscription) -> str | None:
    """``platform:workspace`` of a subscription's channel (chat watchlists carry it as their scope)."""
    if sub.channel.workspace:
        return f"{sub.channel.platform}:{sub.channel.workspace}"
    return sub.scope if sub.scope != "config" else None


def _match_stories(
    matcher: Matcher, stories: Sequence[Story], subs: Mapping[tuple[str, str], object]
) -> tuple[dict[tuple[str, str], frozenset[str]], list[tuple[Story, tuple[str, ...], tuple[Match, ...]]]]:
    """Each story's detected tickers and its Matches for the subscribed watchlists (runs in a
    worker thread: the matcher is immutable), with every watchlist's tickers by (scope, name)."""
    wl_tickers = {(w.scope, w.name.lower()): frozenset(w.tickers) for w in matcher.watchlists}
    subscribed = matcher.mask(lambda scope, name: (scope, name.lower()) in subs)
    out = []
    for story in stories:
        result = matcher.match(story.title, story.summary)
        out.append((story, tuple(result.tickers), result.matches_in(subscribed)))
    return wl_tickers, out


class AlertPipeline:
    """Turns matches into outbox rows, one per (story, channel), honouring each subscription's options."""

    def __init__(
        self,
        store: PipelineStore,
        catalog: MatcherSource,
        quotes: QuoteSource,
        calendar: MarketCalendar,
        delivery: DeliveryConfig,
        clock: Clock,
        *,
        tz: ZoneInfo,
        max_age: float,
    ) -> None:
        """``delivery`` is the ``delivery:`` options, ``tz`` the bot's time zone and ``max_age``
        (``ingest.max_age``, seconds) how old a story may be and still be alerted."""
        self._store = store
        self._catalog = catalog
        self._quotes = quotes
        self._calendar = calendar
        self._cfg = delivery
        self._max_age = timedelta(seconds=max_age)
        self._tz = tz
        self._clock = clock
        self.stats: Counter[str] = Counter()
        self._late: set[asyncio.Task[None]] = set()
        # stories being processed (or waiting for a late price to decide): resume() leaves them be
        self._busy: set[str] = set()

    # ------------------------------------------------------------ new stories

    async def process(self, stories: Sequence[Story]) -> int:
        """Match new stories and queue their alerts; returns how many rows were queued now.

        Each story's hand-off is finished once its rows are queued (or, for a deferred
        ``min_move_pct`` decision, once decided). If this raises or the process dies, the
        hand-offs stay and ``resume()`` processes the stories again.
        """
        mine = [s for s in {s.id: s for s in stories}.values() if s.id not in self._busy]
        if not mine:
            return 0
        ids = {s.id for s in mine}
        self._busy |= ids
        deferred: set[str] = set()
        try:
            queued, deferred = await self._process(mine)
            await self._store.finish_handoffs(sorted(ids - deferred), kind="story")
        finally:
            self._busy -= ids - deferred
        return queued

    async def _process(self, stories: Sequence[Story]) -> tuple[int, set[str]]:
        """``process`` without the hand-off bookkeeping: (rows queued, stories still deciding)."""
        now = self._clock.now()
        matcher = self._catalog.matcher
        subs = await self._subscriptions_by_watchlist()
        # CPU-bound (10,000 watchlists, stories by the hundred): in a worker thread, so chat
        # commands and the loop's other work go on meanwhile
        wl_tickers, matched = await asyncio.to_thread(_match_stories, matcher, stories, subs)
        session: TradingSession | None = None
        session_known = False
        planned: list[_Planned] = []
        confined = await self._confined(stories)
        for story, detected, matches in matched:
            allowed = confined.get(story.id)
            if detected != tuple(story.tickers):
                await self._store.set_story_tickers(story.id, detected)
            channels: dict[ChannelRef, dict[int, _Member]] = {}
            for m in matches:
                for sub in subs.get((m.scope, m.watchlist.lower()), ()):
                    if sub.state == "broken":
                        self._count("skipped_broken", sub, story, f"subscription broken: {sub.broken_reason}")
                        continue
                    if allowed is not None and _workspace_of(sub) not in allowed:
                        self._count(
                            "filtered_workspace",
                            sub,
                            story,
                            "only feeds added in other workspaces carried it",
                        )
                        continue
                    if sub.options.sessions:
                        if not session_known:
                            session, session_known = self._calendar.session_at(now), True
                        if session not in sub.options.sessions:
                            self._count(
                                "filtered_session",
                                sub,
                                story,
                                f"market is {session.value if session else 'without a session'}, "
                                f"subscription wants {', '.join(s.value for s in sub.options.sessions)}",
                            )
                            continue
                    wl = wl_tickers.get((m.scope, m.watchlist.lower()), frozenset())
                    member = _Member(sub, replace(m, story_id=story.id), wl)
                    channels.setdefault(sub.channel, {}).setdefault(sub.id, member)
            for channel, members in channels.items():
                planned.append(self._plan(story, channel, tuple(members.values()), detected))
        if not planned:
            return 0, set()
        # a story seen again (another feed, a restart) is not alerted again: skip it before quotes
        seen = await self._store.existing_keys([k for p in planned for k in p.keys])
        if seen:
            done = [p for p in planned if any(k in seen for k in p.keys)]
            self.stats["duplicates"] += len(done)
            planned = [p for p in planned if not any(k in seen for k in p.keys)]
            if not planned:
                return 0, set()
        symbols = list(dict.fromkeys(t.symbol for p in planned for t in p.tickers))
        started = asyncio.get_running_loop().time()
        quotes, pending_quotes = await self._fetch_quotes(symbols)
        missing = [s for s in symbols if not _available(quotes.get(s))]
        late_possible = pending_quotes is not None or (
            bool(missing) and self._cfg.late_price_wait > self._cfg.quote_wait
        )
        entries: list[OutboxEntry] = []
        deferred: list[_Planned] = []
        budget: dict[int, int] = {}
        for p in planned:
            wanted = self._wanted(p, quotes, late_possible=late_possible)
            if wanted is None:
                deferred.append(p)  # decided when the late price arrives
            elif wanted.members:
                entries.append(await self._entry(wanted, quotes, now, budget))
        queued = await self._store.enqueue(entries)
        self.stats["queued"] += queued
        if queued < len(entries):
            self.stats["duplicates"] += len(entries) - queued
        waiting = [e for e in entries if missing_prices(e.alert)]
        if late_possible and (waiting or deferred):
            self._spawn(self._late_prices(pending_quotes, missing, waiting, deferred, started))
        elif pending_quotes is not None:
            pending_quotes.cancel()
        return queued, {p.story.id for p in deferred}

    def _plan(
        self, story: Story, channel: ChannelRef, members: tuple[_Member, ...], detected: tuple[str, ...]
    ) -> _Planned:
        """The channel's message for these members: their matches merged, their tickers first."""
        match = merge_matches([m.match for m in members])
        tickers = order_tickers(
            matched=match.tickers,
            watchlist_tickers=frozenset().union(*(m.watchlist_tickers for m in members)),
            detected=detected,
            limit=self._cfg.max_tickers,
        )
        return _Planned(story, channel, members, match, tickers, detected)

    def _wanted(self, p: _Planned, quotes: Mapping[str, Quote], *, late_possible: bool) -> _Planned | None:
        """``p`` cut to the members whose ``min_move_pct`` lets it through — None when none does
        yet but a late price may decide it; a plan without members when every one filtered it."""
        allowed: list[_Member] = []
        undecided = False
        filtered: list[_Member] = []
        for m in p.members:
            if m.sub.options.min_move_pct is None:
                allowed.append(m)
                continue
            verdict = self._moved_enough(p, m, quotes)
            if verdict is None and late_possible:
                undecided = True
            elif verdict:
                allowed.append(m)
            else:
                filtered.append(m)
        if not allowed:
            if undecided:
                return None
            for m in filtered:
                self._min_move_filtered(p, m, quotes)
            return replace(p, members=())
        if len(allowed) == len(p.members):
            return p
        return self._plan(p.story, p.channel, tuple(allowed), p.detected)

    async def _subscriptions_by_watchlist(self) -> dict[tuple[str, str], list[Subscription]]:
        out: dict[tuple[str, str], list[Subscription]] = {}
        for sub in await self._store.list_subscriptions():
            out.setdefault((sub.scope, sub.watchlist.lower()), []).append(sub)
        return out

    async def _confined(self, stories: Sequence[Story]) -> dict[str, frozenset[str]]:
        """Stories that only feeds added from chat carried: the workspaces they may reach.

        A workspace's chat feed serves that workspace alone (``/feed add`` is its admins'
        choice, not everyone's); a story also carried by a config feed is everyone's.
        """
        chat = {f.feed_id: f.scope for f in self._catalog.chat_feeds()}
        if not chat:  # no chat feeds: nothing to ask the database
            return {}
        out: dict[str, frozenset[str]] = {}
        for story_id, feeds in (await self._store.story_feeds([s.id for s in stories])).items():
            if feeds and all(f.startswith("chat:") for f in feeds):
                out[story_id] = frozenset(chat[f] for f in feeds if f in chat)
        return out

    def _count(self, what: str, sub: Subscription, story: Story, why: str) -> None:
        self.stats[what] += 1
        log.info(
            "not alerting %s for story %s (%s): %s",
            sub.channel,
            story.id,
            sub.watchlist,
            why,
            extra={"subscription_id": sub.id, "story_id": story.id, "outcome": what},
        )

    async def _entry(
        self, p: _Planned, quotes: Mapping[str, Quote], now: datetime, budget: dict[int, int]
    ) -> OutboxEntry:
        """The channel's row: ``pending`` under the first member that allows it now (members
        without an hourly cap first, so no cap is spent needlessly), else ``held`` under the
        member whose hold ends first."""
        names = [m.match.watchlist for m in p.members]
        alert = compose_story(
            p.story, p.match, p.channel, watchlists=names, tickers=p.tickers, quotes=quotes, now=now
        )
        holds: list[tuple[datetime, _Member, str]] = []
        chosen: _Member | None = None
        for m in sorted(p.members, key=lambda m: m.sub.options.max_per_hour is not None):
            hold = await self._member_hold(m.sub, now, budget)
            if hold is None:
                chosen = m
                break
            holds.append((self._hold_until(m.sub, now), m, hold))
        status: OutboxStatus = "pending"
        if chosen is None:
            _, chosen, _ = min(holds, key=lambda h: h[0])
            status = "held"
            self.stats["held"] += 1
            if all("per hour" in why for _, _, why in holds):
                self.stats["held_overflow"] += 1
            log.info(
                "holding alert for %s (%s), story %s: %s",
                p.channel,
                ", ".join(names),
                p.story.id,
                "; ".join(dict.fromkeys(why for _, _, why in holds)),
                extra={"subscription_id": chosen.sub.id, "story_id": p.story.id, "outcome": "held"},
            )
        return OutboxEntry(
            key=alert.key,
            alert=alert,
            subscription_id=chosen.sub.id,
            due_at=now,
            status=status,
            created_at=now,
        )

    async def _member_hold(self, sub: Subscription, now: datetime, budget: dict[int, int]) -> str | None:
        """Why this subscription holds an alert now (mute, quiet hours, hourly cap), else None;
        a None under a cap spends one of its ``budget``."""
        hold = hold_reason(sub, now, self._tz)
        if hold is None and sub.options.max_per_hour is not None:
            if sub.id not in budget:
                sent = await self._store.count_sent_since(sub.id, now - timedelta(hours=1))
                budget[sub.id] = sub.options.max_per_hour - sent
            if budget[sub.id] <= 0:
                return f"over the limit of {sub.options.max_per_hour} alerts per hour"
            budget[sub.id] -= 1
        return hold

    def _hold_until(self, sub: Subscription, now: datetime) -> datetime:
        """When this subscription's hold ends, roughly (it orders holds; the releaser decides)."""
        opts = sub.options
        until = now + timedelta(hours=1)  # an hourly cap has room within the hour
        if opts.mute_until is not None and opts.mute_until > now:
            until = max(until, opts.mute_until)
        if opts.quiet_hours is not None and in_quiet_hours(opts.quiet_hours, now, self._tz):
            until = max(until, quiet_hours_end(opts.quiet_hours, now, self._tz))
        return until

    # ------------------------------------------------------------ prices

    async def _fetch_quotes(
        self, symbols: Sequence[str]
    ) -> tuple[dict[str, Quote], asyncio.Task[dict[str, Quote]] | None]:
        """Quotes within ``quote_wait``; past it, the still-running fetch is returned to finish later."""
        if not symbols:
            return {}, None
        task = asyncio.ensure_future(self._quotes.quotes(symbols))
        done, _ = await asyncio.wait({task}, timeout=self._cfg.quote_wait)
        if not done:
            self.stats["quotes_late"] += 1
            log.info(
                "quotes for %d symbols missed the %.1fs wait; alerts go without",
                len(symbols),
                self._cfg.quote_wait,
            )
            return {}, task
        try:
            return dict(task.result()), None
        except Exception as exc:  # a QuoteSource should not raise; never let it stop alerts
            self.stats["quotes_failed"] += 1
            log.warning("quotes failed, alerts go without prices: %s", exc)
            return {}, None

    def _member_symbols(self, p: _Planned, m: _Member) -> list[str]:
        """The tickers a member's ``min_move_pct`` looks at: its watchlist's, in the story."""
        symbols = [*m.match.tickers, *(t for t in p.detected if t in m.watchlist_tickers)]
        return list(dict.fromkeys(symbols))[: max(self._cfg.max_tickers, 0)] or list(m.match.tickers)

    def _moved_enough(self, p: _Planned, m: _Member, quotes: Mapping[str, Quote]) -> bool | None:
        threshold = m.sub.options.min_move_pct
        assert threshold is not None
        symbols = self._member_symbols(p, m)
        if not symbols:
            return False
        move = largest_move(symbols, quotes)
        if move is None:
            return None
        return move >= threshold

    def _min_move_filtered(self, p: _Planned, m: _Member, quotes: Mapping[str, Quote]) -> None:
        symbols = self._member_symbols(p, m)
        move = largest_move(symbols, quotes)
        threshold = m.sub.options.min_move_pct
        if not symbols:
            why = f"min_move_pct {threshold}% but no watchlist ticker in the story"
        elif move is None:
            why = f"min_move_pct {threshold}% but no price for {', '.join(symbols)}"
        else:
            why = f"largest move {move:.2f}% is below min_move_pct {threshold}%"
        self._count("filtered_min_move", m.sub, p.story, why)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._late.add(task)
        task.add_done_callback(self._late.discard)

    async def _late_prices(
        self,
        pending: asyncio.Task[dict[str, Quote]] | None,
        missing: list[str],
        waiting: list[OutboxEntry],
        deferred: list[_Planned],
        started: float,
    ) -> None:
        """Prices that missed ``quote_wait``: wait for the running fetch, then ask again a few
        times (the quote source caches late answers) until ``late_price_wait`` has passed; fill
        them into queued alerts, edit sent ones, and decide the deferred ``min_move_pct`` ones
        (whose stories keep their hand-off until then: cancelled or crashed, they are redone)."""
        deciding = {p.story.id for p in deferred}
        try:
            await self._late_prices_inner(pending, missing, waiting, deferred, started)
            await self._store.finish_handoffs(sorted(deciding), kind="story")
        except Exception as exc:
            log.warning("late prices: %s; %d undecided stories are redone by the sweep", exc, len(deciding))
        finally:
            self._busy -= deciding

    async def _late_prices_inner(
        self,
        pending: asyncio.Task[dict[str, Quote]] | None,
        missing: list[str],
        waiting: list[OutboxEntry],
        deferred: list[_Planned],
        started: float,
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = started + self._cfg.late_price_wait
        quotes: dict[str, Quote] = {}
        if pending is not None:
            try:
                got = await asyncio.wait_for(pending, timeout=max(deadline - loop.time(), 0.0))
                quotes.update({s: q for s, q in got.items() if _available(q)})
            except TimeoutError:
                pass
            except Exception as exc:
                log.warning("late quotes failed: %s", exc)
        still = [s for s in missing if s not in quotes]
        delay = 2.0
        while still and loop.time() + delay < deadline:
            await asyncio.sleep(delay)
            delay *= 2
            try:
                got = await asyncio.wait_for(
                    self._quotes.quotes(still), timeout=max(deadline - loop.time(), 0.1)
                )
            except TimeoutError:
                break
            except Exception as exc:
                log.warning("late quotes failed: %s", exc)
                continue
            quotes.update({s: q for s, q in got.items() if _available(q)})
            still = [s for s in still if s not in quotes]
        if still:
            self.stats["prices_never_arrived"] += len(still)
            log.info(
                "no price within %.0fs for %s; alerts keep 'price unavailable'",
                self._cfg.late_price_wait,
                ", ".join(still),
            )
        now = self._clock.now()
        for entry in waiting:
            updated = with_quotes(entry.alert, quotes)
            if updated == entry.alert:
                continue
            status = await self._store.refresh_unsent(entry.key, updated)
            if status in ("claimed", "sent"):
                # already on its way or delivered: edit the message (after it, in channel order)
                await self._store.enqueue(
                    [
                        OutboxEntry(
                            key=edit_key(entry.key),
                            alert=replace(updated, key=edit_key(entry.key), story_id=None),
                            subscription_id=None,
                            due_at=now,
                            created_at=now,
                        )
                    ]
                )
                self.stats["late_price_edits"] += 1
            elif status in ("pending", "held"):
                self.stats["late_price_filled"] += 1
        entries: list[OutboxEntry] = []
        budget: dict[int, int] = {}
        for p in deferred:
            wanted = self._wanted(p, quotes, late_possible=False)
            if wanted is not None and wanted.members:
                entries.append(await self._entry(wanted, quotes, now, budget))
        if entries:
            queued = await self._store.enqueue(entries)
            self.stats["queued"] += queued

    async def settle(self, timeout: float | None = None) -> None:
        """Wait for background late-price work (each bounded by ``late_price_wait``).

        With ``timeout``, work still running after that many seconds is cancelled (alerts keep
        "price unavailable"); ``poll --once`` passes a few seconds so a dead quote service
        cannot hold the run for the whole ``late_price_wait``.
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while self._late:
            remaining = None if deadline is None else max(deadline - loop.time(), 0.0)
            _, pending = await asyncio.wait(list(self._late), timeout=remaining)
            if pending and deadline is not None and loop.time() >= deadline:
                await self.aclose()
                return

    async def aclose(self) -> None:
        """Cancel background late-price work (a shutdown loses only price edits, never alerts)."""
        for task in list(self._late):
            task.cancel()
        for task in list(self._late):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # ------------------------------------------------------------ unfinished hand-offs

    async def resume(self) -> int:
        """Finish the hand-offs that are due: what a crash, a shutdown or a database error left
        behind, and follow-ups whose throttle interval has ended. Returns rows queued.

        The app runs it at start-up (before the first poll) and every 30 s. Stories being
        processed right now are left alone; a story first seen longer than ``ingest.max_age``
        ago is not alerted any more (logged), like any news that old.
        """
        now = self._clock.now()
        queued = 0
        done: set[tuple[str, str]] = set()
        while True:
            due = [
                h
                for h in await self._store.pending_handoffs(due_before=now, limit=RESUME_BATCH)
                if (h.story_id, h.kind) not in done
            ]
            if not due:
                return queued
            done |= {(h.story_id, h.kind) for h in due}
            stories = [h.story_id for h in due if h.kind == "story" and h.story_id not in self._busy]
            if stories:
                queued += await self._resume_stories(stories, now)
            sources = [h.story_id for h in due if h.kind == "sources"]
            if sources:
                queued += await self._announce(sources)

    async def _resume_stories(self, story_ids: list[str], now: datetime) -> int:
        found = await self._store.get_stories(story_ids)
        cutoff = now - self._max_age
        stale = [s for s in found if s.first_seen_at < cutoff]
        gone = set(story_ids) - {s.id for s in found}
        if stale:
            log.warning(
                "%d stories were stored but not alerted before the bot stopped, more than %s ago; "
                "too old to alert now (ingest.max_age)",
                len(stale),
                self._max_age,
            )
        if stale or gone:
            await self._store.finish_handoffs(sorted(gone | {s.id for s in stale}), kind="story")
        fresh = sorted((s for s in found if s.first_seen_at >= cutoff), key=lambda s: (s.published_at, s.id))
        if not fresh:
            return 0
        log.info(
            "finishing the alerts of %d stories stored before a crash, a shutdown or a database error",
            len(fresh),
            extra={"outcome": "resumed"},
        )
        self.stats["resumed"] += len(fresh)
        return await self.process(fresh)

    # ------------------------------------------------------------ "also reported by"

    async def process_new_sources(self, pairs: Sequence[tuple[str, StorySource]]) -> int:
        """Queue "Also reported by …" replies for stories other outlets now carry.

        At most one reply per ``followup_interval`` per story per channel; sources that arrive
        inside the interval are announced together by the next reply, queued when the interval
        is over by ``resume()`` (the story's "sources" hand-off is due then), if no later
        source triggers it first. The hand-off is stored, so a restart keeps the timers.
        """
        ids = list(dict.fromkeys(sid for sid, _ in pairs))
        return await self._widen(pairs) + await self._announce(ids)

    async def _widen(self, pairs: Sequence[tuple[str, StorySource]]) -> int:
        """Stories that feeds added from chat found first and a shared feed now carries too: they
        are everyone's now, so alert the channels their workspace confinement left out (channels
        already alerted are skipped by the outbox keys), under the shared outlet's name and link."""
        if not pairs or not self._catalog.chat_feeds():
            return 0
        first = dict(reversed(pairs))  # story id -> the first new outlet of this batch
        feeds = await self._store.story_feeds(list(first))
        mixed = [
            sid
            for sid, fids in feeds.items()
            if any(f.startswith("chat:") for f in fids) and not all(f.startswith("chat:") for f in fids)
        ]
        if not mixed:
            return 0
        stories = [
            replace(
                s, source=first[s.id].source, link=first[s.id].link, canonical_url="", sources=(first[s.id],)
            )
            for s in await self._store.get_stories(mixed)
        ]
        self.stats["widened"] += len(stories)
        return await self.process(stories)

    async def flush_followups(self) -> int:
        """Queue follow-ups whose throttle interval has ended (``resume()`` does this and more)."""
        due = await self._store.pending_handoffs(due_before=self._clock.now(), limit=RESUME_BATCH)
        return await self._announce([h.story_id for h in due if h.kind == "sources"])

    async def _announce(self, story_ids: Sequence[str]) -> int:
        """Follow-ups for these stories; each story's "sources" hand-off is finished or deferred."""
        if not story_ids:
            return 0
        as_of = self._clock.now()
        subs = {s.id: s for s in await self._store.list_subscriptions()}
        queued = 0
        finished: list[str] = []
        for story_id in story_ids:
            count, later = await self._followups_for(story_id, subs)
            queued += count
            if later is None:
                finished.append(story_id)
            else:
                await self._store.defer_handoff(story_id, kind="sources", due_at=later)
        await self._store.finish_handoffs(finished, kind="sources", as_of=as_of)
        return queued

    async def _followups_for(
        self, story_id: str, subs: Mapping[int, Subscription]
    ) -> tuple[int, datetime | None]:
        """(follow-ups queued, when to look again for a channel still throttled, or None)."""
        rows = await self._store.story_deliveries(story_id, kinds=("story", "followup"))
        alerts = [
            d
            for d in rows
            if d.alert.kind == "story"
            and d.status in ("pending", "claimed", "sent")
            and d.subscription_id is not None
        ]
        if not alerts:
            return 0, None
        story = await self._store.get_story(story_id)
        if story is None:
            return 0, None
        followups = [d for d in rows if d.alert.kind == "followup"]
        queued = 0
        later: datetime | None = None
        channels: set[ChannelRef] = set()
        for d in alerts:
            sub = subs.get(d.subscription_id or 0)
            if sub is None or sub.state == "broken" or d.alert.channel in channels:
                continue  # one follow-up per channel (rows queued per subscription before, too)
            channels.add(d.alert.channel)
            count, at = await self._followup(story, sub, d, followups)
            queued += count
            if at is not None:
                later = at if later is None else min(later, at)
        return queued, later

    async def _followup(
        self, story: Story, sub: Subscription, delivery: OutboxEntry, followups: Sequence[OutboxEntry]
    ) -> tuple[int, datetime | None]:
        """(follow-ups queued, when to try again if this channel must wait, else None)."""
        now = self._clock.now()
        announced = {e.source for f in followups if f.alert.channel == sub.channel for e in f.alert.entries}
        # the alert's own outlet is not news to its channel (a widened story names a shared one)
        shown = {story.source, delivery.alert.source}
        fresh = [s for s in story.sources if s.source not in shown and s.source not in announced]
        if not fresh:
            return 0, None
        in_channel = [f for f in followups if f.alert.channel == sub.channel]
        last = in_channel[-1] if in_channel else None
        interval = timedelta(seconds=self._cfg.followup_interval)
        if last is not None and (last.created_at or last.due_at) + interval > now:
            return 0, (last.created_at or last.due_at) + interval
        over_cap = sub.options.max_per_hour is not None and (
            await self._store.count_sent_since(sub.id, now - timedelta(hours=1)) >= sub.options.max_per_hour
        )
        if over_cap or hold_reason(sub, now, self._tz) is not None:
            return 0, now + timedelta(seconds=60)
        alert = compose_followup(
            story,
            fresh,
            sub,
            watchlist=delivery.alert.watchlist,
            watchlists=delivery.alert.watchlists,
            sequence=len(in_channel),
            thread_of=delivery.message_id if delivery.status == "sent" else None,
            now=now,
        )
        # The key is the guard: only one reply may follow the previous one in this channel. It is
        # atomic across processes and, unlike a separate marker, cannot be left behind by a crash
        # between claiming the turn and queuing the reply.
        after = last.id if last is not None else 0
        alert = replace(alert, key=f"followup:{story.id}:{sub.channel}:after:{after}")
        queued = await self._store.enqueue(
            [OutboxEntry(key=alert.key, alert=alert, subscription_id=sub.id, due_at=now, created_at=now)]
        )
        if not queued:  # another process (or subscription) replied first: look again later
            return 0, now + interval
        self.stats["followups"] += queued
        return queued, None

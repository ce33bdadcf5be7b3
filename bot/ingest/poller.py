"""The poller: every feed on its own schedule, conditional GETs, backoff, and the ingest pipeline.

``run_once()`` polls every (or every due) feed concurrently and returns a ``PollReport``;
``attach(host)`` puts one job per feed on the app's scheduler (its interval plus jitter, never
overlapping itself, coalesced when late). New alertable stories go to ``on_stories``, which
the app wires to matching and delivery. A failing feed backs off exponentially (with jitter,
at least as long as its ``Retry-After``) and is disabled after ``max_failures`` consecutive
failures, with the reason stored for ``marketbot feeds``.

Every poll path (``run_once``, the scheduled jobs) goes through one in-flight guard, so a
feed is never polled by two cycles at once. A response's validators (ETag, Last-Modified)
are saved only after its items are stored; if storing fails (a database outage, a full
disk) the feed keeps its old validators and the same items come back at the next poll.
Alertable stories reach ``on_stories`` with a stored hand-off (``bot.ingest.pipeline``):
if the callback fails, the stories are finished later from the store, not lost.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from bot.cluster import DEAD_AFTER, HEARTBEAT, FeedShare
from bot.config import IngestConfig
from bot.domain.batching import Batcher
from bot.domain.errors import SourceError, StoreError
from bot.domain.lifecycle import Lifecycle
from bot.domain.models import NewsItem, Story, StorySource
from bot.domain.records import FeedState, HandoffKind
from bot.domain.timeutil import SystemClock, format_duration
from bot.ingest.articles import ArticleLeads, trafilatura_available
from bot.ingest.fetcher import Fetcher, FetchResult
from bot.ingest.normalize import items_from_feed
from bot.ingest.parser import html_instead_of_feed, parse_feed
from bot.ingest.pipeline import FeedItems, Ingestor, IngestResult
from bot.ingest.sources import FeedSource
from bot.ports import Clock, FeedStore, Job, JobHost, NewsStore

log = logging.getLogger(__name__)


class PollStore(FeedStore, NewsStore, Protocol):
    """The store capabilities polling uses: feed state, and stored news for the ingestor."""


OnStories = Callable[[list[Story]], Awaitable[None]]
# (story id, the outlet that also reported it): delivery edits or threads "also reported by"
OnSources = Callable[[list[tuple[str, StorySource]]], Awaitable[None]]
SourceProvider = Callable[[], Awaitable[Sequence[FeedSource]] | Sequence[FeedSource]]

MAX_BACKOFF = 6 * 3600.0
# feeds parsed (and normalised) at once in a worker thread: ElementTree's expat and the
# normalisation hold the GIL, so a second thread would parse no faster and would only take
# the GIL from the event loop more often
PARSE_SLOTS = 1
START_WAVE = 10  # polls started in one turn of the event loop
INGEST_CHUNK_ITEMS = 1000  # ingest (dedup, cluster, store, notify) once this many items are parsed
SAVE_BATCH = 64  # poll cycles whose feed states one statement saves at most
REFRESH_INTERVAL = 60.0
REFRESH_JOB = "ingest:refresh"
CLAIM_EVERY = 10.0  # seconds between the claim-ahead job's runs (with replicas)
CLAIM_JOB = "ingest:claim"


@dataclass(frozen=True, slots=True)
class FeedPollResult:
    """One feed's poll: its HTTP outcome and what the pipeline made of it."""

    feed_id: str
    name: str
    url: str
    status: str  # "200", "304", "error", "skipped"
    error: str | None = None
    items: int = 0
    new_items: int = 0
    new_stories: int = 0
    alerted: int = 0
    joined: int = 0
    elapsed: float = 0.0
    disabled_reason: str | None = None
    next_poll_at: datetime | None = None
    bozo: str | None = None
    skipped: str | None = None  # why a "skipped" feed was not polled (its wait ends at next_poll_at)

    def to_dict(self) -> dict[str, Any]:
        return {
            "feed": self.feed_id,
            "name": self.name,
            "url": self.url,
            "status": self.status,
            "skipped": self.skipped,
            "error": self.error,
            "items": self.items,
            "new_items": self.new_items,
            "new_stories": self.new_stories,
            "alerted": self.alerted,
            "joined": self.joined,
            "elapsed": round(self.elapsed, 3),
            "disabled_reason": self.disabled_reason,
            "next_poll": self.next_poll_at.isoformat() if self.next_poll_at else None,
        }


@dataclass(frozen=True, slots=True)
class PollReport:
    """A poll cycle: each feed's result and the stories handed on for alerting (oldest first)."""

    started_at: datetime
    elapsed: float
    feeds: tuple[FeedPollResult, ...] = ()
    stories: tuple[Story, ...] = ()
    interrupted: bool = False  # stopped (shutdown) before it finished: what was stored is kept

    @property
    def skipped(self) -> tuple[FeedPollResult, ...]:
        return tuple(f for f in self.feeds if f.status == "skipped")

    def count(self, status: str) -> int:
        return sum(1 for f in self.feeds if f.status == status)

    @property
    def failed(self) -> int:
        return self.count("error")

    @property
    def new_items(self) -> int:
        return sum(f.new_items for f in self.feeds)

    def to_dict(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at.isoformat(),
            "elapsed": round(self.elapsed, 3),
            "polled": len(self.feeds) - self.count("skipped"),
            "changed": self.count("200"),
            "not_modified": self.count("304"),
            "failed": self.failed,
            "new_items": self.new_items,
            "stories": len(self.stories),
            "skipped": len(self.skipped),
            "interrupted": self.interrupted,
            "feeds": [f.to_dict() for f in self.feeds],
        }


@dataclass(slots=True)
class _Polled:
    """A feed after fetch + parse, before the pipeline."""

    source: FeedSource
    state: FeedState
    started: float
    fetch: FetchResult | None = None
    items: list[NewsItem] = field(default_factory=list)
    n_items: int = 0
    error: str | None = None
    retry_after: float | None = None
    permanent: bool = False
    bozo: str | None = None
    store_error: str | None = None  # fetched fine, but the items could not be stored

    @property
    def status(self) -> str:
        if self.error is not None or self.store_error is not None:
            return "error"
        if self.fetch is not None and self.fetch.not_modified:
            return "304"
        return "200"


def _maybe_overdue(state: FeedState, by: datetime) -> bool:
    """Whether another replica's claim on this feed may succeed (``claim_due_feeds`` with ``by``).

    False when the feed's known next poll is after ``by``, or it was never polled (only its
    owner takes those); a backing-off feed (due when its backoff ends) is left to the database.
    """
    if state.consecutive_failures:
        return True
    return state.next_poll_at is not None and state.next_poll_at <= by


def _in_sync(sources: Sequence[FeedSource], stored: dict[str, FeedState]) -> bool:
    """Whether ``sync_feeds`` of these sources would change nothing: the active feeds stored are
    exactly these, with these specs (the poller's refresh skips the sync then)."""
    if len(sources) != len(stored):
        return False
    for src in sources:
        state = stored.get(src.id)
        spec = src.spec
        if type(spec.interval) is not int:  # stored as a whole number of seconds
            spec = replace(spec, interval=int(spec.interval))
        if state is None or state.spec != spec:
            return False
    return True


class Poller(Lifecycle):
    """Polls feeds and sources, feeds the ingest pipeline and hands alertable stories on.

    Use as an async context manager (it opens the fetcher it owns and loads feed states
    and the recent-story index), then ``run_once()`` or ``attach(host)``.
    ``on_stories`` receives new alertable stories (oldest first); ``on_sources`` receives
    ``(story id, StorySource)`` pairs when another outlet reports a story already known.
    """

    def __init__(
        self,
        *,
        store: PollStore,
        sources: SourceProvider | Sequence[FeedSource],
        config: IngestConfig | None = None,
        fetcher: Fetcher | None = None,
        on_stories: OnStories | None = None,
        on_sources: OnSources | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        share: FeedShare | None = None,
    ) -> None:
        self.store = store
        # several replicas on one database: which feeds are this one's, and exclusive claims
        self.share = share
        self.config = config or IngestConfig()
        self.clock = clock or SystemClock()
        self._own_fetcher = fetcher is None
        self.fetcher = fetcher or Fetcher(self.config)
        self.on_stories = on_stories
        self.on_sources = on_sources
        self._provider = sources
        self._rng = rng or random.Random()
        article_lead = None
        if self.config.fetch_articles:
            if trafilatura_available():
                # article links come from feed content: they go through the SSRF guard
                article_lead = ArticleLeads(
                    self.fetcher, summary_chars=self.config.summary_chars, trusted=False
                )
            else:
                log.warning(
                    "ingest.fetch_articles is on but trafilatura is missing: pip install 'marketbot[articles]'"
                )
        handoffs: list[HandoffKind] = []
        if on_stories is not None:
            handoffs.append("story")
        if on_sources is not None:
            handoffs.append("sources")
        self.ingestor = Ingestor(
            store, config=self.config, clock=self.clock, article_lead=article_lead, handoffs=handoffs
        )
        self.sources: dict[str, FeedSource] = {}
        self.states: dict[str, FeedState] = {}
        self._inflight: set[str] = set()  # the one in-flight guard: feeds some cycle is polling
        self._released: set[str] = set()  # feeds whose claim went back with their saved state
        # with ``share``: feeds the claim-ahead job claimed for their coming scheduled poll, and
        # until when that claim lasts
        self._held: dict[str, datetime] = {}
        self._cycles: set[asyncio.Task[PollReport]] = set()
        self._closing = False
        self._parse_slots = asyncio.Semaphore(PARSE_SLOTS)
        # the states of cycles finishing while the previous save is in flight go in one statement
        self._saves: Batcher[list[FeedState], None] = Batcher(self._save_batch, max_batch=SAVE_BATCH)
        self._host: JobHost | None = None
        self._owned: set[str] | None = (
            None  # with ``share``: the feeds this replica owned at the last heartbeat
        )
        self._started = False

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Open the fetcher, sync the feed list with the store, load states and the story index."""
        if self._started:
            return
        if self._own_fetcher:
            await self.fetcher.start()
        self._closing = False
        await self.refresh()
        await self.ingestor.load()
        self._started = True

    async def stop(self) -> None:
        """Start no more polls and cancel those in flight (SIGTERM).

        Cancelling is safe at any point: what a cycle stored is committed together with its
        hand-offs, and a feed's validators are saved only with its stored items, so the next
        start finishes the alerts and re-reads whatever was not stored.
        """
        self._closing = True
        current = asyncio.current_task()
        cycles = [t for t in self._cycles if t is not current]
        for task in cycles:
            task.cancel()
        if cycles:
            await asyncio.wait(cycles)
            log.info(
                "stopped %d poll cycles in flight; what they stored is finished at the next start",
                len(cycles),
            )

    async def aclose(self) -> None:
        """Stop polling, remove scheduled jobs and close the fetcher (if this poller opened it)."""
        await self.stop()
        await self._saves.aclose()
        if self.share is not None:
            await self.share.aclose()
        if self._host is not None:
            for name in [*map(self._job_id, self.sources), REFRESH_JOB, CLAIM_JOB]:
                self._host.remove(name)
            self._host = None
        if self._own_fetcher:
            await self.fetcher.aclose()
        self._started = False

    async def refresh(self) -> list[FeedSource]:
        """Re-read the sources (ticker feeds follow watchlist edits), sync them to the store, reschedule."""
        provided = self._provider() if callable(self._provider) else self._provider
        sources = list(await provided if inspect.isawaitable(provided) else provided)
        stored = {s.id: s for s in await self.store.list_feeds()}
        if not _in_sync(sources, stored):  # else the sync would write nothing: one read, not two
            await self.store.sync_feeds([s.spec for s in sources])
            stored = {s.id: s for s in await self.store.list_feeds()}
        old = set(self.sources)
        self.sources = {s.id: s for s in sources if s.id in stored}
        for fid, src in self.sources.items():
            current = self.states.get(fid)
            # a poll in flight owns the in-memory state; otherwise the store's copy is authoritative
            base = current if current is not None and fid in self._inflight else stored[fid]
            self.states[fid] = replace(base, spec=src.spec)
        for fid in set(self.states) - set(self.sources):
            del self.states[fid]
        if self._host is not None:
            for fid in old - set(self.sources):
                self._host.remove(self._job_id(fid))
            for fid in set(self.sources) - old:
                self._host.add(self._feed_job(self.sources[fid]))
        return list(self.sources.values())

    # ------------------------------------------------------------ scheduling

    def attach(self, host: JobHost) -> None:
        """Put this poller's jobs on ``host``: one per feed, plus the source refresh; from then on
        feeds added or dropped by a refresh are added to or removed from it."""
        self._host = host
        for job in self.jobs():
            host.add(job)

    def jobs(self) -> list[Job]:
        """One job per feed (its interval with jitter, never overlapping) and the source refresh."""
        refresh = Job(
            REFRESH_JOB, self._refresh_job, every=REFRESH_INTERVAL, jitter=5, title="refresh feed sources"
        )
        jobs = [*(self._feed_job(src) for src in self.sources.values()), refresh]
        if self.share is not None:
            jobs.append(
                Job(CLAIM_JOB, self._claim_job, every=CLAIM_EVERY, jitter=1, title="claim the feeds due next")
            )
        return jobs

    @staticmethod
    def _job_id(feed_id: str) -> str:
        return f"feed:{feed_id}"

    def _feed_job(self, src: FeedSource) -> Job:
        interval = max(30, int(src.spec.interval))
        state = self.states.get(src.id)
        # the scheduler runs on the real clock; the bot's clock may be shifted (MARKETBOT_NOW)
        delay = self._rng.uniform(0, min(interval, 30))  # spread the first polls out
        if state is not None and state.next_poll_at is not None:
            delay = max(delay, (state.next_poll_at - self.clock.now()).total_seconds())
        return Job(
            self._job_id(src.id),
            functools.partial(self.poll_feed, src.id),
            every=interval,
            jitter=max(1, int(interval * 0.1)),
            grace=interval,
            first_in=delay,
            title=f"poll {src.spec.name}",
        )

    async def follow_owners(self) -> int:
        """After a heartbeat: the feeds this replica has just become owner of (a replica died or
        left) are put on its schedule at their stored due time; returns how many.

        Every replica runs a job per feed, but the phase of this replica's job was never aligned
        with the polls another replica made: without this an inherited feed would wait for the
        job's next tick, up to an interval after it is due (a dead replica's feed mid-poll is
        due at once: its claim is void once the replica is seen dead).
        """
        if self.share is None or self._host is None or self._closing:
            return 0
        owned = self.share.owned(self.sources)
        if self._owned is None:
            self._owned = owned
            return 0
        gained = owned - self._owned
        if gained:
            stored = {state.id: state for state in await self.store.list_feeds()}
            now, wall = self.clock.now(), datetime.now(UTC)  # the scheduler runs on the real clock
            for fid in gained:
                state = stored.get(fid)
                due = state.next_poll_at if state is not None and state.next_poll_at is not None else now
                delay = max(0.0, (due - now).total_seconds())
                self._host.run_at(self._job_id(fid), wall + timedelta(seconds=delay))
            log.info("feeds: this replica takes over %d feeds from replicas that left", len(gained))
        self._owned = owned
        return len(gained)

    async def claim_ahead(self) -> int:
        """With replicas: claim, in one statement, the feeds this replica owns that fall due before
        the job's next run (``FeedShare.due_by``: an owner's tick may come that early), so that
        their scheduled polls find the claim taken and send no statement of their own; returns
        how many it claimed.

        Only owned feeds, at most this replica's fair share of all feeds (``Node.share``), most
        overdue first. A scheduled poll that finds no claim held (its tick came first, or the
        claim ran out) claims through ``FeedShare.claim`` as before.
        """
        if self.share is None or self._closing:
            return 0
        share = self.share
        now = self.clock.now()
        for fid, until in list(self._held.items()):
            if until <= now or fid not in self.sources:
                del self._held[fid]
        want: list[FeedSource] = []
        dues: dict[int, datetime] = {}  # by interval: how late a feed's next poll may be
        held, inflight, states = self._held, self._inflight, self.states
        for fid, src in self.sources.items():  # every feed, every run: the cheap tests first
            state = states.get(fid)
            if state is None or fid in held or fid in inflight:
                continue
            if state.next_poll_at is not None:
                interval = src.spec.interval
                due = dues.get(interval)
                if due is None:
                    due = dues[interval] = share.due_by(now, interval, owner=True)
                if state.next_poll_at > due:
                    continue
            if self._pollable(state) and share.owns(fid):
                want.append(src)
        if not want:
            return 0
        want.sort(key=lambda src: (self.states[src.id].next_poll_at or now, src.id))
        want = want[: share.node.share(len(self.sources))]
        by_interval: dict[int, list[FeedSource]] = {}
        for src in want:
            by_interval.setdefault(int(src.spec.interval), []).append(src)
        got = 0
        for interval, group in by_interval.items():
            claimed = await self._claim(group, now=now, due_by=share.due_by(now, interval, owner=True))
            until = now + timedelta(seconds=share.ttl(interval))
            for src in claimed:
                self._held[src.id] = until
            got += len(claimed)
        return got

    @property
    def claimed_ahead(self) -> frozenset[str]:
        """The feeds this replica's claim-ahead job holds claims on for their coming polls."""
        return frozenset(self._held)

    async def _holding(self, feed_id: str, now: datetime) -> bool:
        """Whether this replica holds a claim-ahead on the feed it may poll on (the caller takes it).

        Not if the claim runs out before a poll could end, nor if this replica's last heartbeat
        is old enough that the others may think it dead (its claims are void to them then): such
        a claim is given back, and the poll claims afresh."""
        until = self._held.pop(feed_id, None)
        if until is None or self.share is None:
            return False
        beat = self.share.node.beat_at
        margin = timedelta(seconds=self.config.total_timeout)  # the poll must end within the claim
        if (
            beat is not None
            and now - beat < timedelta(seconds=DEAD_AFTER - HEARTBEAT)
            and now + margin < until
        ):
            return True
        if now < until:
            await self._release({feed_id})
        return False

    async def _claim_job(self) -> None:
        try:
            await self.claim_ahead()
        except Exception as exc:  # a database outage: the polls claim one by one meanwhile
            self._failure(exc, "claiming the feeds due next")

    async def _refresh_job(self) -> None:
        try:
            await self.refresh()
        except Exception as exc:  # a database outage: one line, and again at the next refresh
            self._failure(exc, "refreshing feed sources")

    async def poll_feed(self, feed_id: str) -> FeedPollResult | None:
        """The scheduled job: poll one feed if it is due (backoff and Retry-After respected).

        Returns None when it did not poll: not due, disabled, already being polled by another
        cycle (the start-up ``run_once``), or the poller is stopping.
        """
        src = self.sources.get(feed_id)
        state = self.states.get(feed_id)
        if src is None or state is None or self._closing:
            return None
        now = self.clock.now()
        if self.share is not None:
            if feed_id in self._inflight:
                return None
            if await self._holding(feed_id, now):  # claimed ahead (its state came with the claim)
                report = await self._run_cycle([src])
                return report.feeds[0] if report.feeds else None
            # the database decides (another replica may have polled it): the owner polls it when
            # due, allowing for the tick's jitter; another replica only once it is an interval late
            owner = self.share.owns(feed_id)
            if not owner and not _maybe_overdue(
                state, self.share.due_by(now, src.spec.interval, owner=False)
            ):
                # its claim would be refused: the store's copy (re-read every REFRESH_INTERVAL, and
                # its next poll only ever moves later) says the owner polled it within an interval
                return None
            try:  # batched with the claims of the other polls starting meanwhile: one statement
                claimed = await self.share.claim(feed_id, interval=src.spec.interval, owner=owner)
            except Exception as exc:  # a database outage: poll nothing now, the next tick retries
                self._failure(exc, "claiming feeds")
                return None
            if claimed is None:
                return None
            if feed_id in self.sources and feed_id not in self._inflight:
                self.states[feed_id] = replace(claimed, spec=self.sources[feed_id].spec)
            report = await self._run_cycle([src])
            return report.feeds[0] if report.feeds else None
        # jitter must not skip a regular tick; a backoff or a server's Retry-After is kept exactly
        slack = timedelta(seconds=0 if state.consecutive_failures else src.spec.interval * 0.5)
        if not self._pollable(state) or (state.next_poll_at is not None and now < state.next_poll_at - slack):
            return None
        report = await self._run_cycle([src])
        return report.feeds[0] if report.feeds else None

    async def _claim(
        self, sources: Sequence[FeedSource], *, now: datetime, due_by: datetime | None, force: bool = False
    ) -> list[FeedSource]:
        """Claim these feeds in the database for this replica; the ones it got, their states refreshed.

        ``force`` claims them whatever their due time (``poll --once --force``). A claim lasts
        one interval (at least a minute): a replica that dies mid-poll holds its feeds no longer.
        One statement for them all (a forced claim: one per feed); the scheduled polls claim
        through ``FeedShare.claim`` instead, batched across the polls starting together.
        """
        assert self.share is not None
        store = self.share.store
        got: list[FeedState] = []
        try:
            if force:
                for src in sources:
                    ttl = self.share.ttl(src.spec.interval)
                    held = await store.claim_feed(
                        src.id, self.share.holder, now=now, ttl=ttl, alive_since=self.share.alive_since(now)
                    )
                    if held and (state := await self.store.get_feed(src.id)) is not None:
                        got.append(state)
            elif sources:
                ttl = self.share.ttl(max(float(src.spec.interval) for src in sources))
                got = await store.claim_due_feeds(
                    self.share.holder,
                    now=now,
                    ttl=ttl,
                    limit=len(sources),
                    only=[src.id for src in sources],
                    due_by=due_by,
                    alive_since=self.share.alive_since(now),
                )
        except Exception as exc:  # a database outage: poll nothing now, the next tick retries
            self._failure(exc, "claiming feeds")
            return []
        by_id = {state.id: state for state in got}
        for fid, state in by_id.items():
            if fid in self.sources and fid not in self._inflight:
                self.states[fid] = replace(state, spec=self.sources[fid].spec)
        return [src for src in sources if src.id in by_id]

    async def _release(self, ids: set[str]) -> None:
        """Give the claims back once the poll's state is saved (else they lapse by themselves)."""
        if self.share is None or not ids:
            return
        try:
            await self.share.store.release_feeds(sorted(ids), self.share.holder)
        except Exception as exc:
            self._failure(exc, "releasing feed claims")

    async def run_once(self, *, due_only: bool = False, force: bool = False) -> PollReport:
        """One full cycle: poll the feeds concurrently, like the scheduler would.

        Skipped (and listed with the reason and until when): feeds turned off in the config,
        feeds disabled after failures, feeds backing off after a failure (their backoff or the
        server's Retry-After has not ended), feeds another cycle is polling right now and, with
        ``due_only``, feeds whose regular interval has not ended. ``force`` polls the disabled
        and backing-off ones anyway (a disabled feed that answers is enabled again).
        Alertable stories have been stored and handed to ``on_stories`` when it returns.
        """
        if not self._started:
            await self.start()
        now = self.clock.now()
        chosen = []
        skipped = []
        for fid, src in self.sources.items():
            state = self.states[fid]
            why = self._skip_reason(state, now, due_only=due_only, force=force)
            if why is None:
                chosen.append(src)
            else:
                skipped.append(
                    FeedPollResult(
                        fid,
                        src.spec.name,
                        src.spec.url,
                        "skipped",
                        disabled_reason=state.disabled_reason,
                        # until when it waits; a disabled feed waits for someone to enable it
                        next_poll_at=state.next_poll_at if self._pollable(state) else None,
                        skipped=why,
                    )
                )
        if self.share is not None and chosen:
            # another replica may be polling some of them, or have polled them since we looked
            share = self.share
            ahead = [src for src in chosen if await self._holding(src.id, now)]  # claimed ahead
            taken = {src.id for src in ahead}
            rest = [src for src in chosen if src.id not in taken]
            if due_only and not force:
                # a fair share, as the scheduled polls take it: the feeds this replica owns, and
                # others' only once an interval overdue, so the first replica up does not take
                # every due feed of the cluster in one claim
                mine = [src for src in rest if share.owns(src.id)]
                late = [
                    src
                    for src in rest
                    if not share.owns(src.id)
                    and _maybe_overdue(self.states[src.id], share.due_by(now, src.spec.interval, owner=False))
                ]
                claimed = await self._claim(mine, now=now, due_by=now)
                if late:
                    longest = max(src.spec.interval for src in late)
                    claimed += await self._claim(
                        late, now=now, due_by=share.due_by(now, longest, owner=False)
                    )
            else:
                far = now + timedelta(days=3650)
                claimed = await self._claim(rest, now=now, due_by=now if due_only else far, force=force)
            claimed = ahead + claimed
            got = {src.id for src in claimed}
            for src in chosen:
                if src.id not in got:
                    skipped.append(
                        FeedPollResult(
                            src.id,
                            src.spec.name,
                            src.spec.url,
                            "skipped",
                            next_poll_at=self.states[src.id].next_poll_at,
                            skipped="polled by another replica",
                        )
                    )
            chosen = claimed
        report = await self._run_cycle(chosen)
        return replace(report, feeds=report.feeds + tuple(skipped))

    def _skip_reason(self, state: FeedState, now: datetime, *, due_only: bool, force: bool) -> str | None:
        """Why ``run_once`` leaves this feed alone now (None: poll it)."""
        if not state.spec.enabled:
            return "turned off in the config (enabled: false)"
        if self._closing:
            return "the bot is stopping"
        if state.id in self._inflight:
            return "already being polled"
        if force:
            return None
        if state.disabled_reason is not None:
            return f"disabled: {state.disabled_reason}"
        if state.next_poll_at is None or now >= state.next_poll_at:
            return None
        wait = format_duration(state.next_poll_at - now)
        if state.consecutive_failures:
            n = state.consecutive_failures
            return f"backing off for {wait} after {n} failure{'s' if n > 1 else ''} ({state.last_error})"
        if due_only:
            return f"not due for {wait}"
        return None

    @staticmethod
    def _pollable(state: FeedState) -> bool:
        return state.spec.enabled and state.disabled_reason is None

    # ------------------------------------------------------------ one cycle

    async def _run_cycle(self, sources: Sequence[FeedSource]) -> PollReport:
        """Claim the feeds (the in-flight guard), then poll them in a task of the poller's own.

        The poller owns its cycles: a caller that is cancelled (a scheduler shutting down) leaves
        the cycle to finish, and only ``stop()`` cancels it.
        """
        started_at = self.clock.now()
        claimed = [src for src in sources if src.id not in self._inflight]
        if self._closing or not claimed:
            return PollReport(started_at, 0.0, interrupted=self._closing)
        ids = {src.id for src in claimed}
        self._inflight |= ids  # no await between the check and the claim
        self._released -= ids
        task = asyncio.ensure_future(self._cycle(claimed))
        self._cycles.add(task)

        def release(done: asyncio.Task[PollReport]) -> None:
            self._cycles.discard(done)
            self._inflight -= ids

        task.add_done_callback(release)
        await asyncio.wait({task})
        if self.share is not None and not task.cancelled():
            saved = ids & self._released  # released with their saved state
            self._released -= saved
            await self._release(ids - saved)  # a caller cancelled mid-cycle leaves its claims to lapse
        if task.cancelled():
            return PollReport(started_at, 0.0, interrupted=True)
        return task.result()

    async def _cycle(self, sources: Sequence[FeedSource]) -> PollReport:
        """Fetch and parse concurrently; ingest in chunks as results arrive; save states; notify.

        Ingesting while the slower feeds are still fetching keeps the cycle short and its
        memory bounded: a chunk's items are dropped once stored.
        """
        started_at = self.clock.now()
        t0 = time.monotonic()
        polled: dict[str, _Polled] = {}
        ingested: dict[str, IngestResult] = {}
        stories: list[Story] = []
        tasks: list[asyncio.Task[_Polled]] = []
        try:
            for n, src in enumerate(sources, 1):
                tasks.append(asyncio.create_task(self._fetch_and_parse(src)))
                if n % START_WAVE == 0:
                    # each start (a connection, a request written) is a fraction of a
                    # millisecond: a hundred in one turn of the loop would hold chat up
                    await asyncio.sleep(0)
            chunk: list[_Polled] = []
            chunk_items = 0
            for next_done in asyncio.as_completed(tasks):
                p = await next_done
                polled[p.source.id] = p
                if p.error is None and p.items:
                    chunk.append(p)
                    chunk_items += len(p.items)
                    if chunk_items >= INGEST_CHUNK_ITEMS:
                        stories += await self._ingest_chunk(chunk, ingested)
                        chunk, chunk_items = [], 0
            if chunk:
                stories += await self._ingest_chunk(chunk, ingested)
            now = self.clock.now()
            ordered = [polled[src.id] for src in sources]
            states = [self._next_state(p, ingested.get(p.source.id), now) for p in ordered]
            await self._save_states(states)
            for state in states:
                self.states[state.id] = state
        finally:
            for task in tasks:
                task.cancel()
        results = tuple(
            self._result(p, ingested.get(p.source.id), s) for p, s in zip(ordered, states, strict=True)
        )
        report = PollReport(started_at, time.monotonic() - t0, results, tuple(stories))
        if sources:
            log.info(
                "polled %d feeds in %.2fs: %d changed, %d not modified, %d failed, %d new items, %d new stories",
                len(sources),
                report.elapsed,
                report.count("200"),
                report.count("304"),
                report.failed,
                report.new_items,
                len(stories),
            )
        return report

    async def _ingest_chunk(self, chunk: list[_Polled], ingested: dict[str, IngestResult]) -> list[Story]:
        """Dedup, cluster and store a chunk of feeds; hand its alertable stories on (oldest first)."""
        feeds = [
            FeedItems(
                spec=p.source.spec,
                items=p.items,
                first_poll=p.state.first_success_at is None,
                ticker=p.source.ticker,
            )
            for p in chunk
        ]
        try:
            results = await self.ingestor.ingest_many(feeds)
        except Exception as exc:
            # nothing of the chunk was stored: its feeds keep their validators and are read again
            reason = self._failure(exc, f"storing the items of {len(chunk)} feeds")
            for p in chunk:
                p.items = []
                p.store_error = reason
            return []
        for result in results:
            ingested[result.feed_id] = result
        for p in chunk:
            p.items = []  # stored: let the memory go
        stories = sorted(
            (s for p in chunk for s in ingested[p.source.id].alertable), key=lambda s: (s.published_at, s.id)
        )
        if stories and self.on_stories is not None:
            try:
                await self.on_stories(stories)
            except Exception as exc:  # their hand-offs are stored: the sweep finishes them
                self._failure(
                    exc, f"queuing the alerts of {len(stories)} new stories (retried from the store)"
                )
        pairs = [pair for p in chunk for pair in ingested[p.source.id].new_sources]
        if pairs and self.on_sources is not None:
            try:
                await self.on_sources(pairs)
            except Exception as exc:
                self._failure(exc, f"announcing {len(pairs)} new sources (retried from the store)")
        return stories

    @staticmethod
    def _failure(exc: Exception, what: str) -> str:
        """Log a failure once (a database outage in one line, anything else with its traceback)."""
        if isinstance(exc, StoreError):
            log.error("%s: %s", what, exc)
            return str(exc)
        log.error("%s failed", what, exc_info=exc)
        return f"{what} failed: {type(exc).__name__}: {exc}"

    async def _save_states(self, states: Sequence[FeedState]) -> None:
        """Save the cycle's feed states; if the database refuses, the next cycle tries again.

        With replicas, the save also gives this replica's claims on the feeds back (no statement
        of its own for the release); ``_run_cycle`` releases only what was not saved. Cycles
        finishing while another cycle's save is in flight are saved together by the next
        statement (``Batcher``), with or without replicas.
        """
        try:
            await self._saves.submit(list(states))
        except Exception as exc:
            self._failure(exc, f"saving the state of {len(states)} feeds")
        else:
            if self.share is not None:
                self._released |= {s.id for s in states}

    async def _save_batch(self, cycles: list[list[FeedState]]) -> list[None]:
        holder = self.share.holder if self.share is not None else None
        await self.store.save_feed_states([s for states in cycles for s in states], release=holder)
        return [None] * len(cycles)

    async def _fetch_and_parse(self, src: FeedSource) -> _Polled:
        """Fetch and parse one feed; whatever goes wrong is this feed's error, never the cycle's."""
        polled = _Polled(src, self.states[src.id], time.monotonic())
        try:
            await self._fetch_and_parse_into(polled)
        except Exception as exc:
            log.exception("polling %s (%s) failed unexpectedly", src.spec.name, src.spec.url)
            polled.items, polled.n_items = [], 0
            polled.error = f"unexpected {type(exc).__name__}: {exc}"
        return polled

    async def _fetch_and_parse_into(self, polled: _Polled) -> None:
        src, state = polled.source, polled.state
        fetched_at = self.clock.now()
        if src.news is not None:
            try:
                async with asyncio.timeout(self.config.total_timeout):
                    polled.items = list(await src.news.fetch())
                    polled.n_items = len(polled.items)
            except TimeoutError:
                polled.error = f"timed out after {self.config.total_timeout:g}s"
            except SourceError as exc:
                polled.error, polled.retry_after = str(exc), exc.retry_after
            except Exception as exc:
                log.exception("news source %s failed", src.id)
                polled.error = f"{type(exc).__name__}: {exc}"
            return
        result = await self.fetcher.fetch(
            src.spec.url, etag=state.etag, last_modified=state.last_modified, trusted=src.spec.trusted
        )
        polled.fetch = result
        if not result.ok:
            polled.error, polled.retry_after, polled.permanent = (
                result.error,
                result.retry_after,
                result.permanent,
            )
            return
        if result.not_modified:
            return
        if not result.body.strip():
            polled.error = "empty body"
            return
        try:
            polled.items, polled.bozo = await self._parse(src, result, fetched_at)
        except ValueError as exc:
            polled.error = str(exc)
        polled.n_items = len(polled.items)
        polled.fetch = replace(result, body=b"")  # parsed: the body is no longer needed

    async def _parse(
        self, src: FeedSource, result: FetchResult, fetched_at: datetime
    ) -> tuple[list[NewsItem], str | None]:
        def work() -> tuple[list[NewsItem], str | None]:
            if not src.spec.trusted and (
                html := html_instead_of_feed(result.body, result.headers, url=result.final_url)
            ):
                raise ValueError(html)
            parsed = parse_feed(result.body, result.headers, url=result.final_url)
            if parsed.bozo and not parsed.entries and not parsed.version:
                if html := html_instead_of_feed(result.body, result.headers, url=result.final_url):
                    raise ValueError(html)
                ctype = result.headers.get("content-type", "unknown type")
                raise ValueError(f"not an RSS or Atom feed ({ctype}; {parsed.bozo_reason})")
            items = items_from_feed(
                parsed,
                feed_id=src.id,
                source=src.spec.name,
                base_url=result.final_url,
                fetched_at=fetched_at,
                summary_chars=self.config.summary_chars,
            )
            return items, parsed.bozo_reason

        # parsing and normalising a changed feed is milliseconds of CPU (feedparser's fallback
        # tens): never on the event loop, where ten bodies answered at once would hold chat
        # commands up for their sum
        async with self._parse_slots:
            return await asyncio.to_thread(work)

    # ------------------------------------------------------------ state transitions

    def _next_state(self, p: _Polled, ingested: IngestResult | None, now: datetime) -> FeedState:
        state = p.state
        interval = float(state.spec.interval)
        regular = now + timedelta(seconds=interval * self._rng.uniform(0.9, 1.1))
        if p.store_error is not None:
            # the feed is fine, the database is not: no new validators (the items were not
            # stored), no failure counted against the feed; read again at its next poll
            return replace(state, last_polled_at=now, last_error=p.store_error, next_poll_at=regular)
        if p.error is None:
            etag = state.etag
            modified = state.last_modified
            if p.fetch is not None:
                etag, modified = p.fetch.etag, p.fetch.last_modified
            if state.disabled_reason is not None:  # a forced poll of a disabled feed worked
                log.info("feed %s (%s) answers again: enabled", state.spec.name, state.spec.url)
            return replace(
                state,
                etag=etag,
                last_modified=modified,
                last_status=p.status,
                last_polled_at=now,
                last_success_at=now,
                first_success_at=state.first_success_at or now,
                last_error=None,
                consecutive_failures=0,
                disabled_reason=None,
                next_poll_at=regular,
                items_seen=state.items_seen + (ingested.new_items if ingested else 0),
            )
        failures = state.consecutive_failures + 1
        error = p.error
        if p.retry_after:
            error = f"{error} (Retry-After: {format_duration(timedelta(seconds=p.retry_after))})"
        backoff = min(interval * 2 ** (failures - 1), MAX_BACKOFF) * self._rng.uniform(0.8, 1.2)
        delay = max(backoff, p.retry_after or 0.0)
        disabled = None
        if p.permanent:
            disabled = f"{error} (fix the URL, then re-enable with `marketbot feeds --enable {state.id}`)"
        elif failures >= self.config.max_failures:
            disabled = f"{failures} consecutive failures, last: {error}"
        if disabled:
            log.warning("feed %s (%s) disabled: %s", state.spec.name, state.spec.url, disabled)
        else:
            log.info(
                "feed %s (%s) failed (%d in a row): %s", state.spec.name, state.spec.url, failures, error
            )
        status = f"HTTP {p.fetch.status}" if p.fetch is not None and p.fetch.status >= 400 else "error"
        return replace(
            state,
            last_status=status,
            last_polled_at=now,
            last_error=error,
            consecutive_failures=failures,
            disabled_reason=disabled,
            next_poll_at=now + timedelta(seconds=delay),
        )

    def _result(self, p: _Polled, ingested: IngestResult | None, state: FeedState) -> FeedPollResult:
        return FeedPollResult(
            feed_id=p.source.id,
            name=p.source.spec.name,
            url=p.source.spec.url,
            status=p.status,
            error=p.error or p.store_error,
            items=p.n_items,
            new_items=ingested.new_items if ingested else 0,
            new_stories=len(ingested.new_stories) if ingested else 0,
            alerted=len(ingested.alertable) if ingested else 0,
            joined=ingested.joined if ingested else 0,
            elapsed=(p.fetch.elapsed if p.fetch is not None else time.monotonic() - p.started),
            disabled_reason=state.disabled_reason,
            next_poll_at=state.next_poll_at,
            bozo=p.bozo,
        )


async def enable_feed(store: FeedStore, feed_id: str) -> FeedState | None:
    """Clear a feed's disabled reason and failure count so that it is polled again."""
    state = await store.get_feed(feed_id)
    if state is None:
        return None
    fresh = replace(state, disabled_reason=None, consecutive_failures=0, last_error=None, next_poll_at=None)
    await store.save_feed_state(fresh)
    return fresh

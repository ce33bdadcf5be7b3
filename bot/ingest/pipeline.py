"""Dedup and story clustering: from a feed's NewsItems to stored items, stories and alertable stories.

An item seen once (by feed identity, or by link + title within its feed) is never processed
again, so it is never alerted twice, across restarts too. New items join a recent story when
the canonical URL matches or the normalised title is near-identical (``ClusterIndex``), and
are then recorded as another source of it; otherwise they found a new story. Clustering is by
identity (see ``ClusterIndex``): a near-identical title joins only when it names the same
entities (the rules layer's ticker detection, ``use_entities``), never for template titles
(SEC form titles, "Market update"), and within ``cluster_window`` of the PUBLISHED time, so a
first poll's years of one company's filings stay one story per filing. New stories are
alertable unless they come from a feed's first successful poll (the backfill guard, bar the
newest ``backfill`` ones) or were published more than ``max_age`` ago.

The hand-off to delivery is durable: the transaction that marks the items seen also stores a
hand-off for every alertable story (and for every story another outlet now reports), which the
alert pipeline deletes only once it has queued the alerts. A crash, a kill or a database error
between "seen" and "queued" leaves the hand-off behind, and start-up (or the sweep) finishes it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from bot.config import IngestConfig
from bot.domain.models import NewsItem, Story, StorySource
from bot.domain.records import FeedSpec, Handoff, HandoffKind, IngestBatch
from bot.domain.stories import ClusterIndex, Entities, canonical_url, story_id_for
from bot.logs import traced
from bot.ports import Clock, NewsStore

log = logging.getLogger(__name__)

# Fetches an article's lead paragraph (the optional ``fetch_articles`` extra); "" when none.
ArticleLead = Callable[[Story], Awaitable[str]]
ARTICLE_BUDGET = 10.0  # seconds for all article leads of one ingest
# CPU time of deduplication and clustering between two yields to the event loop (chat
# commands wait about this long behind an ingest, longer when other processes share the CPU)
PLACE_SLICE = 0.005
# with replicas: how far back each catch-up looks before the previous one (clock skew between
# replicas, and stories committed just after that look)
CATCH_UP_MARGIN = timedelta(minutes=2)


@asynccontextmanager
async def _alone() -> AsyncIterator[None]:
    """The ingest section of a process that shares its database with no other replica."""
    yield


@dataclass(frozen=True, slots=True)
class FeedItems:
    """One feed's normalised items from one poll, with what the pipeline needs to know about it."""

    spec: FeedSpec
    items: Sequence[NewsItem]
    first_poll: bool = False
    ticker: str | None = None


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What happened to one feed's items: how many were new, which stories they made."""

    feed_id: str
    items: int
    new_items: int
    new_stories: tuple[Story, ...] = ()
    alertable: tuple[Story, ...] = ()
    joined: int = 0  # new items that joined an existing story
    new_sources: tuple[tuple[str, StorySource], ...] = ()  # (story id, outlet) "also reported by"


@dataclass(slots=True)
class _Pending:
    feed: FeedItems
    new_items: int = 0
    joined: int = 0
    stories: list[Story] = field(default_factory=list)
    sources: list[tuple[str, StorySource]] = field(default_factory=list)


class Ingestor:
    """Serialises dedup, clustering and storage of new items; holds the recent-story index."""

    def __init__(
        self,
        store: NewsStore,
        *,
        config: IngestConfig,
        clock: Clock,
        article_lead: ArticleLead | None = None,
        handoffs: Collection[HandoffKind] = (),
        entities: Entities | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self.article_lead = article_lead
        # which hand-offs to store with the items: "story" when someone alerts new stories,
        # "sources" when someone announces new outlets (the poller sets them from its callbacks)
        self.handoffs: frozenset[HandoffKind] = frozenset(handoffs)
        self.index = ClusterIndex(
            threshold=config.cluster_threshold,
            window=timedelta(seconds=config.cluster_window),
            entities=entities,
        )
        self._sources: dict[str, set[str]] = {}  # story id -> outlets already recorded
        self._lock = asyncio.Lock()
        self._loaded = False
        self._section: Callable[[], AbstractAsyncContextManager[None]] = _alone
        self._synced: datetime | None = None  # when the index last took in other replicas' stories
        self._entities_ready: Callable[[], Awaitable[object]] | None = None  # see use_entities

    def use_replicas(self, section: Callable[[], AbstractAsyncContextManager[None]]) -> None:
        """Share clustering with other replicas on the same database.

        ``section`` serialises ingest across replicas (``SqlStore.ingest_section``); inside it,
        before clustering, the index takes in the stories other replicas stored since the last
        look (``recent_stories``), so copies of one event fetched by two replicas at the same
        moment become one story.
        """
        self._section = section

    def use_entities(
        self, entities: Entities | None, ready: Callable[[], Awaitable[object]] | None = None
    ) -> None:
        """Cluster with this entity detector (the tickers a title names; the app passes the
        rules layer's detection). Without one, titles naming no entity are compared only.

        ``ready``: awaited before each ingest while the detector is still being built (the
        matcher's first compile, in a worker thread at start-up), so that clustering never
        blocks the event loop waiting for it; dropped once it has returned.
        """
        self.index.entities = entities
        self._entities_ready = ready

    async def load(self) -> int:
        """Fill the index with the stories of the last ``cluster_window`` (after a restart)."""
        now = self.clock.now()
        stories = await self.store.recent_stories(now - timedelta(seconds=self.config.cluster_window))
        async with self._lock:
            for story in stories:
                self._index_story(story)
            self._loaded = True
        log.info("story index: %d recent stories loaded", len(stories))
        return len(stories)

    async def _catch_up(self, now: datetime) -> None:
        """Index the stories other replicas stored since the last look (only with replicas)."""
        if self._section is _alone:
            return
        since = (self._synced or now) - CATCH_UP_MARGIN
        for story in await self.store.recent_stories(since):
            if story.id not in self.index:
                self._index_story(story)
        self._synced = now

    def _index_story(self, story: Story) -> None:
        at, seen = story.published_at, story.first_seen_at
        self.index.add(story.id, title=story.title, canonical_url=story.canonical_url, at=at, seen=seen)
        names = self._sources.setdefault(story.id, {story.source})
        for src in story.sources:
            names.add(src.source)
            url = canonical_url(src.link) if src.link else ""
            if url and url != story.canonical_url:
                self.index.add(story.id, title="", canonical_url=url, at=at, seen=src.seen_at)

    async def ingest(self, feed: FeedItems) -> IngestResult:
        """Dedup, cluster and store one feed's items."""
        return (await self.ingest_many([feed]))[0]

    async def ingest_many(self, feeds: Sequence[FeedItems]) -> list[IngestResult]:
        """Dedup, cluster and store several feeds' items in one store round trip.

        Results come back in the order of ``feeds``. Alertable stories are the new ones that
        pass the backfill guard and the ``max_age`` cut-off, oldest first.
        """
        if self._entities_ready is not None:
            await self._entities_ready()
            self._entities_ready = None
        if not self._loaded:
            await self.load()
        now = self.clock.now()
        batch = IngestBatch()
        pending = [_Pending(f) for f in feeds]
        # One ingest at a time, from dedup to commit: a story is stored before another feed's
        # copy can join it (and before anyone hears of it).
        async with self._lock, self._section():
            await self._catch_up(now)
            gone = self.index.prune(now)
            for sid in gone:
                self._sources.pop(sid, None)
            all_items = [i for f in feeds for i in f.items]
            fresh = await self.store.unseen_items(all_items)
            fresh_ids = {(i.feed_id, i.id) for i in fresh}
            placing: list[tuple[NewsItem, _Pending]] = []
            for p in pending:
                new = [i for i in p.feed.items if (i.feed_id, i.id) in fresh_ids]
                p.new_items = len(new)
                placing += [(item, p) for item in new]
            # oldest first across the batch's feeds, so that a story is founded by its earliest
            # report whichever feed's response came back first
            placing.sort(key=lambda pair: pair[0].published_at)
            slice_end = time.perf_counter() + PLACE_SLICE
            for item, p in placing:
                self._place(item, p, batch, now)
                if time.perf_counter() >= slice_end:
                    # let chat commands and the rest of the loop run (the index is only
                    # touched under self._lock, which this ingest holds throughout)
                    await asyncio.sleep(0)
                    slice_end = time.perf_counter() + PLACE_SLICE
            alertable_by_feed = [self._alertable(p, now) for p in pending]
            if self.article_lead is not None and self.config.fetch_articles:
                await self._add_leads(alertable_by_feed, batch)
            batch.handoffs = self._handoffs(alertable_by_feed, batch, now)
            try:
                await self.store.save_ingest(batch)
            except BaseException:
                # forget what was not stored, so that the next poll does it again
                for story in batch.new_stories:
                    self.index.discard(story.id)
                    self._sources.pop(story.id, None)
                raise
        await _log_stored(batch, alertable_by_feed)
        by_id = {s.id: s for s in batch.new_stories}
        return [
            IngestResult(
                feed_id=p.feed.spec.id,
                items=len(p.feed.items),
                new_items=p.new_items,
                new_stories=tuple(by_id.get(s.id, s) for s in p.stories),
                alertable=tuple(by_id.get(s.id, s) for s in alertable),
                joined=p.joined,
                new_sources=tuple(p.sources),
            )
            for p, alertable in zip(pending, alertable_by_feed, strict=True)
        ]

    def _handoffs(
        self, alertable_by_feed: list[list[Story]], batch: IngestBatch, now: datetime
    ) -> list[Handoff]:
        """The hand-offs this batch commits with its items (see the module docstring)."""
        out: list[Handoff] = []
        if "story" in self.handoffs:
            out += [Handoff(s.id, "story", now, now) for stories in alertable_by_feed for s in stories]
        if "sources" in self.handoffs:
            announced = dict.fromkeys(sid for sid, _ in batch.new_sources)
            out += [Handoff(sid, "sources", now, now) for sid in announced]
        return out

    def _place(self, item: NewsItem, p: _Pending, batch: IngestBatch, now: datetime) -> None:
        """Join ``item`` to a recent story or found a new one (index and batch updated)."""
        # the window is measured on published times (first seen when the feed gives none)
        at = item.published_at
        hit = self.index.find(title=item.title, canonical_url=item.canonical_url, at=at)
        if hit is not None:
            batch.items.append((item, hit.story_id))
            p.joined += 1
            names = self._sources.setdefault(hit.story_id, set())
            # a feed added from chat is its workspace's own: it never shows up as "also reported
            # by" in other workspaces' alerts
            if item.source not in names and not item.feed_id.startswith("chat:"):
                names.add(item.source)
                pair = (hit.story_id, StorySource(item.source, item.link, now))
                batch.new_sources.append(pair)
                p.sources.append(pair)
            self.index.add(hit.story_id, title=item.title, canonical_url=item.canonical_url, at=at, seen=now)
            return
        story = Story(
            id=story_id_for(item.feed_id, item.id),
            title=item.title,
            link=item.link,
            canonical_url=item.canonical_url,
            summary=item.summary,
            source=item.source,
            published_at=item.published_at,
            first_seen_at=now,
            tickers=(p.feed.ticker,) if p.feed.ticker else (),
            sources=(StorySource(item.source, item.link, now),),
        )
        batch.items.append((item, story.id))
        batch.new_stories.append(story)
        p.stories.append(story)
        self._sources[story.id] = {item.source}
        self.index.add(story.id, title=item.title, canonical_url=item.canonical_url, at=at, seen=now)

    def _alertable(self, p: _Pending, now: datetime) -> list[Story]:
        cutoff = now - timedelta(seconds=self.config.max_age)
        fresh = [s for s in p.stories if s.published_at >= cutoff]
        if p.feed.first_poll:
            keep = p.feed.spec.backfill
            fresh = sorted(fresh, key=lambda s: s.published_at, reverse=True)[:keep] if keep else []
        return sorted(fresh, key=lambda s: (s.published_at, s.id))

    async def _add_leads(self, alertable_by_feed: list[list[Story]], batch: IngestBatch) -> None:
        """Give summary-less alertable stories an article lead (bounded in time and concurrency)."""
        assert self.article_lead is not None
        lead = self.article_lead
        wanted = [s for stories in alertable_by_feed for s in stories if not s.summary and s.link]
        if not wanted:
            return
        sem = asyncio.Semaphore(4)

        async def one(story: Story) -> tuple[str, str]:
            async with sem:
                try:
                    return story.id, await lead(story)
                except Exception as exc:
                    log.info("no article lead for %s: %s", story.link, exc)
                    return story.id, ""

        tasks = [asyncio.create_task(one(s)) for s in wanted]
        done, late = await asyncio.wait(tasks, timeout=ARTICLE_BUDGET)
        for task in late:  # the alert goes out with the feed's own (empty) summary
            task.cancel()
        leads = {sid: lead for sid, lead in (t.result() for t in done) if lead}
        if not leads:
            return
        batch.new_stories[:] = [
            replace(s, summary=leads[s.id]) if s.id in leads else s for s in batch.new_stories
        ]
        for stories in alertable_by_feed:
            stories[:] = [replace(s, summary=leads[s.id]) if s.id in leads else s for s in stories]


async def _log_stored(batch: IngestBatch, alertable_by_feed: list[list[Story]]) -> None:
    """One line per stored story (INFO when alertable) and new outlet, traced by story id
    (a first poll logs thousands: the loop runs in between)."""
    alertable = {s.id for stories in alertable_by_feed for s in stories}
    debug = log.isEnabledFor(logging.DEBUG)
    slice_end = time.perf_counter() + PLACE_SLICE
    for story in batch.new_stories:
        if not debug and story.id not in alertable:
            continue  # a first poll's thousands of stories: nothing to log
        with traced(story_id=story.id):
            if story.id in alertable:
                log.info("story stored, alertable: %s (%s)", story.title, story.source)
            else:
                log.debug("story stored: %s (%s)", story.title, story.source)
        if time.perf_counter() >= slice_end:
            await asyncio.sleep(0)
            slice_end = time.perf_counter() + PLACE_SLICE
    for story_id, source in batch.new_sources:
        with traced(story_id=story_id):
            log.info("story also reported by %s", source.source)

"""Three replicas' pollers on one PostgreSQL share the feeds: each feed fetched once per interval,
spread evenly, validators shared, and a dead replica's feeds taken over within two intervals.

Real parts: the feed host on loopback, three stores (own engines, as separate processes would
have), three pollers with their ``FeedShare``; time is a manual clock and the scheduler's ticks
are played by calling ``poll_feed`` for every feed on every replica, in shuffled order.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta

import pytest

from bot.cluster import DEAD_AFTER, FeedShare, Node
from bot.config import IngestConfig
from bot.domain.records import FeedSpec
from bot.domain.timeutil import ManualClock
from bot.ingest.poller import Poller
from bot.ingest.sources import FeedSource
from bot.store import SqlStore, open_store
from tests.fakes.feed_host import FeedHost, entry, rss

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 12, 2, 14, 0, tzinfo=UTC)
FEEDS = 90
INTERVAL = 60


@pytest.fixture
async def host() -> AsyncIterator[FeedHost]:
    async with FeedHost() as h:
        yield h


class Replica:
    def __init__(self, name: str, store: SqlStore, clock: ManualClock, sources: list[FeedSource]) -> None:
        self.node = Node(store, clock, replica_id=name, host="h", pid=1, version="1")
        self.poller = Poller(
            store=store,
            sources=sources,
            config=IngestConfig(total_timeout=10),
            clock=clock,
            share=FeedShare(self.node, store),
        )
        self.polled: Counter[str] = Counter()

    async def tick(self, feed_ids: list[str]) -> None:
        for fid in feed_ids:
            result = await self.poller.poll_feed(fid)
            if result is not None:
                self.polled[fid] += 1


async def test_replicas_poll_each_feed_once_per_interval_and_take_over_a_dead_ones_feeds(
    postgres: object, host: FeedHost
) -> None:
    url = await postgres.new_database()  # type: ignore[attr-defined]
    clock = ManualClock(T0)
    sources = []
    for i in range(FEEDS):
        body = rss(
            [entry(f"Story {i}", f"https://x.test/{i}", guid=f"g{i}", published=T0 - timedelta(hours=1))]
        )
        feed_url = host.serve(f"/f{i}.xml", body, etag=f'"v{i}"')
        sources.append(FeedSource(FeedSpec(id=f"f{i:03d}", name=f"F{i}", url=feed_url, interval=INTERVAL)))
    ids = [s.spec.id for s in sources]
    rng = random.Random(7)
    async with AsyncExitStack() as stack:
        replicas = []
        for name in ("r1", "r2", "r3"):
            store = await stack.enter_async_context(open_store(url))
            replica = Replica(name, store, clock, sources)
            await stack.enter_async_context(replica.poller)
            replicas.append(replica)
        for r in replicas:
            await r.node.run_once()
        for r in replicas:
            await r.node.run_once()  # every replica sees all three

        async def interval(alive: list[Replica]) -> Counter[str]:
            """One interval of scheduler ticks on every live replica, in random order."""
            before = Counter({fid: host.hits.get(f"/f{ids.index(fid)}.xml", 0) for fid in ids})
            for _ in range(3):  # three ticks each, 20 s apart (jitter and early ticks included)
                for r in rng.sample(alive, len(alive)):
                    await r.node.run_once()
                    await r.tick(rng.sample(ids, len(ids)))
                clock.advance(timedelta(seconds=INTERVAL / 3))
            after = Counter({fid: host.hits.get(f"/f{ids.index(fid)}.xml", 0) for fid in ids})
            return after - before

        first = await interval(replicas)
        assert set(first) == set(ids) and max(first.values()) == 1  # every feed once, none twice
        shares = [sum(r.polled.values()) for r in replicas]
        assert sum(shares) == FEEDS and min(shares) >= FEEDS / 3 * 0.5, shares  # all take part
        print(f"feeds polled per replica in the first interval: {shares}")

        second = await interval(replicas)
        assert max(second.values()) <= 1 and len(second) >= FEEDS * 0.9
        # validators are shared: every second fetch was conditional, whichever replica made it
        for i in range(FEEDS):
            requests = host.requests_to(f"/f{i}.xml")
            assert all(r.headers.get("If-None-Match") == f'"v{i}"' for r in requests[1:]), i

        # r3 dies (no goodbye): its claims lapse, the others notice it is gone and take its feeds
        dead = replicas[2]
        theirs = {fid for fid in ids if dead.poller.share is not None and dead.poller.share.owns(fid)}
        assert theirs
        alive = replicas[:2]
        clock.advance(timedelta(seconds=DEAD_AFTER))
        taken: Counter[str] = Counter()
        for _ in range(2):  # within two intervals
            taken += await interval(alive)
        assert theirs <= set(taken), sorted(theirs - set(taken))
        assert max(taken.values()) <= 2  # once per interval at most

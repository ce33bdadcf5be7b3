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


async def test_a_live_but_stuck_owners_feeds_are_taken_once_overdue_and_not_before(
    postgres: object, host: FeedHost
) -> None:
    """A replica that heartbeats but no longer polls: the other takes its feeds an interval late.

    The other replica does not ask the database about feeds it does not own while its view of
    them (re-read every minute by the poller's refresh) shows them polled within the interval.
    """
    url = await postgres.new_database()  # type: ignore[attr-defined]
    clock = ManualClock(T0)
    sources = []
    for i in range(12):
        body = rss([entry(f"Story {i}", f"https://x.test/{i}", guid=f"g{i}", published=T0)])
        feed_url = host.serve(f"/s{i}.xml", body, etag=f'"s{i}"')
        sources.append(FeedSource(FeedSpec(id=f"s{i:02d}", name=f"S{i}", url=feed_url, interval=INTERVAL)))
    ids = [s.spec.id for s in sources]
    async with AsyncExitStack() as stack:
        one, stuck = [
            Replica(name, await stack.enter_async_context(open_store(url)), clock, sources)
            for name in ("r1", "r2")
        ]
        for r in (one, stuck):
            await stack.enter_async_context(r.poller)
        for _ in range(2):
            for r in (one, stuck):
                await r.node.run_once()
        await one.tick(ids)
        await stuck.tick(ids)  # its last round: from now on it only heartbeats
        theirs = {fid for fid in ids if stuck.poller.share is not None and stuck.poller.share.owns(fid)}
        assert theirs and set(stuck.polled) == theirs
        taken_at: dict[str, datetime] = {}
        for step in range(1, 19):  # 20 s ticks for three intervals; the poller's refresh every minute
            clock.advance(timedelta(seconds=INTERVAL / 3))
            for r in (stuck, one):  # the stuck one heartbeats: "one" sees it alive
                await r.node.run_once()
            if step % 3 == 0:
                await one.poller.refresh()
            before = Counter(one.polled)
            await one.tick(ids)
            for fid in Counter(one.polled) - before:
                if fid in theirs:
                    taken_at.setdefault(fid, clock.now())
        assert set(taken_at) == theirs  # none left behind
        # never while the stuck owner's last poll was less than an interval old
        assert min(taken_at.values()) >= T0 + timedelta(seconds=2 * INTERVAL)
        assert max(taken_at.values()) <= T0 + timedelta(seconds=3 * INTERVAL)


async def test_the_start_up_poll_takes_a_fair_share_not_every_due_feed(
    postgres: object, host: FeedHost
) -> None:
    """``run_once(due_only=True)`` (a replica starting beside others) claims the due feeds it owns;
    the others are left to their owners, whose own start-up polls take them."""
    url = await postgres.new_database()  # type: ignore[attr-defined]
    clock = ManualClock(T0)
    sources = []
    for i in range(30):
        feed_url = host.serve(f"/u{i}.xml", rss([entry(f"U{i}", f"https://x.test/u{i}", guid=f"u{i}")]))
        sources.append(FeedSource(FeedSpec(id=f"u{i:02d}", name=f"U{i}", url=feed_url, interval=INTERVAL)))
    async with AsyncExitStack() as stack:
        replicas = [
            Replica(name, await stack.enter_async_context(open_store(url)), clock, sources)
            for name in ("r1", "r2")
        ]
        for r in replicas:
            await stack.enter_async_context(r.poller)
        for _ in range(2):
            for r in replicas:
                await r.node.run_once()
        polled: list[set[str]] = []
        for r in replicas:
            report = await r.poller.run_once(due_only=True)
            polled.append({f.feed_id for f in report.feeds if f.status != "skipped"})
            share = r.poller.share
            assert share is not None and polled[-1] == share.owned(s.spec.id for s in sources)
        assert polled[0] and polled[1] and not polled[0] & polled[1]
        assert polled[0] | polled[1] == {s.spec.id for s in sources}


async def test_the_claim_ahead_job_claims_a_replicas_due_feeds_in_one_go_for_its_scheduled_polls(
    postgres: object, host: FeedHost
) -> None:
    """Each replica's claim-ahead job claims the due feeds it owns; their scheduled polls then
    poll them without a claim statement of their own, each feed once, and give the claims back."""
    url = await postgres.new_database()  # type: ignore[attr-defined]
    clock = ManualClock(T0)
    sources = []
    for i in range(24):
        feed_url = host.serve(f"/c{i}.xml", rss([entry(f"C{i}", f"https://x.test/c{i}", guid=f"c{i}")]))
        sources.append(FeedSource(FeedSpec(id=f"c{i:02d}", name=f"C{i}", url=feed_url, interval=INTERVAL)))
    ids = [s.spec.id for s in sources]
    async with AsyncExitStack() as stack:
        stores = [await stack.enter_async_context(open_store(url)) for _ in range(2)]
        replicas = [Replica(name, s, clock, sources) for name, s in zip(("r1", "r2"), stores, strict=True)]
        for r in replicas:
            await stack.enter_async_context(r.poller)
        for _ in range(2):
            for r in replicas:
                await r.node.run_once()
        owned = []
        for r in replicas:
            share = r.poller.share
            assert share is not None
            owned.append(share.owned(ids))
            assert await r.poller.claim_ahead() == len(owned[-1])
            assert await r.poller.claim_ahead() == 0  # held already: nothing more to claim
        assert await stores[0].feed_claims() == {"r1": len(owned[0]), "r2": len(owned[1])}
        for r, mine in zip(replicas, owned, strict=True):
            await r.tick(ids)
            assert set(r.polled) == mine
            assert r.poller.share is not None and r.poller.share.claims.requests == 0  # no claim per poll
        assert all(host.hits.get(f"/c{i}.xml") == 1 for i in range(24))
        assert await stores[0].feed_claims() == {}  # given back with the saved states
        # next interval: due again, claimed ahead again, polled with the validators
        clock.advance(timedelta(seconds=INTERVAL))
        for r in replicas:
            await r.node.run_once()
            await r.poller.claim_ahead()
            await r.tick(ids)
        assert all(host.hits.get(f"/c{i}.xml") == 2 for i in range(24))


async def test_a_claim_held_ahead_is_given_back_and_taken_afresh_when_the_heartbeat_is_stale(
    postgres: object, host: FeedHost
) -> None:
    url = await postgres.new_database()  # type: ignore[attr-defined]
    clock = ManualClock(T0)
    sources = []
    for i in range(6):
        feed_url = host.serve(f"/h{i}.xml", rss([entry(f"H{i}", f"https://x.test/h{i}", guid=f"h{i}")]))
        sources.append(FeedSource(FeedSpec(id=f"h{i}", name=f"H{i}", url=feed_url, interval=INTERVAL)))
    ids = [s.spec.id for s in sources]
    async with AsyncExitStack() as stack:
        store = await stack.enter_async_context(open_store(url))
        alone = Replica("r1", store, clock, sources)
        await stack.enter_async_context(alone.poller)
        await alone.node.run_once()
        assert await alone.poller.claim_ahead() == len(ids)
        # its heartbeat is now old enough for the others to think it dead: its claims are void to
        # them, so it must not poll on them; it gives them back and claims each poll afresh
        clock.advance(timedelta(seconds=DEAD_AFTER))
        await alone.tick(ids)
        share = alone.poller.share
        assert share is not None and share.claims.requests == len(ids)
        assert set(alone.polled) == set(ids) and all(host.hits.get(f"/h{i}.xml") == 1 for i in range(6))
        assert await store.feed_claims() == {}

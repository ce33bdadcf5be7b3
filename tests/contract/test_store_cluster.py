"""Replica coordination in the store: heartbeats, leases, feed claims, state versions.

Run on SQLite and a real PostgreSQL; the races run many concurrent claimers on PostgreSQL, each
on its own engine (its own connections), as separate replicas would.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta

import pytest

from bot.cluster import DEAD_AFTER, FeedShare, Node
from bot.domain.cluster import Replica
from bot.domain.records import FeedSpec, FeedState
from bot.domain.timeutil import ManualClock
from bot.store import SqlStore, open_store

T0 = datetime(2026, 12, 2, 14, 0, tzinfo=UTC)


def replica(rid: str, at: datetime = T0, roles: tuple[str, ...] = ()) -> Replica:
    return Replica(id=rid, host="h", pid=1, version="1.0", started_at=T0, heartbeat_at=at, roles=roles)


async def test_heartbeats_list_and_forget_replicas(store: SqlStore) -> None:
    await store.heartbeat(replica("a"))
    await store.heartbeat(replica("b"))
    await store.heartbeat(replica("a", T0 + timedelta(seconds=5), roles=("gateway",)))
    got = {r.id: r for r in await store.replicas()}
    assert got["a"].heartbeat_at == T0 + timedelta(seconds=5) and got["a"].roles == ("gateway",)
    assert got["a"].alive(T0 + timedelta(seconds=20), timeout=15)
    assert not got["b"].alive(T0 + timedelta(seconds=20), timeout=15)
    assert await store.prune_replicas(before=T0 + timedelta(seconds=1)) == 1
    await store.acquire_lease("x", "a", now=T0, ttl=10)
    await store.forget_replica("a")
    assert await store.replicas() == [] and await store.leases() == []


async def test_a_beat_refreshes_the_row_forgets_the_long_dead_and_lists_the_rest(store: SqlStore) -> None:
    await store.heartbeat(replica("gone", T0 - timedelta(days=2)))
    await store.heartbeat(replica("b", T0))
    rows = await store.beat(replica("a", T0 + timedelta(seconds=5), roles=("gateway",)), forget_before=T0)
    assert {r.id for r in rows} == {"a", "b"}
    assert next(r for r in rows if r.id == "a").roles == ("gateway",)
    again = await store.beat(replica("a", T0 + timedelta(seconds=10)), forget_before=T0)
    assert next(r for r in again if r.id == "a").heartbeat_at == T0 + timedelta(seconds=10)
    assert [r.id for r in await store.replicas()] == [r.id for r in again]


async def test_a_lease_is_held_renewed_and_taken_over_only_when_expired(store: SqlStore) -> None:
    first = await store.acquire_lease("discord:gateway", "a", now=T0, ttl=10)
    assert first is not None and first.holder == "a" and first.token == 1
    assert await store.acquire_lease("discord:gateway", "b", now=T0 + timedelta(seconds=9), ttl=10) is None
    renewed = await store.acquire_lease("discord:gateway", "a", now=T0 + timedelta(seconds=9), ttl=10)
    assert renewed is not None and renewed.token == 1 and renewed.acquired_at == T0
    assert renewed.expires_at == T0 + timedelta(seconds=19)
    assert await store.acquire_lease("discord:gateway", "b", now=T0 + timedelta(seconds=18), ttl=10) is None
    taken = await store.acquire_lease("discord:gateway", "b", now=T0 + timedelta(seconds=19), ttl=10)
    assert taken is not None and taken.holder == "b" and taken.token == 2  # fencing: a new holder
    assert not await store.release_lease("discord:gateway", "a")
    assert await store.release_lease("discord:gateway", "b")
    again = await store.acquire_lease("discord:gateway", "a", now=T0 + timedelta(seconds=20), ttl=10)
    assert again is not None and again.token == 1
    assert [lease.name for lease in await store.leases("discord:")] == ["discord:gateway"]
    assert await store.leases("job:") == []


async def test_a_batch_of_leases_is_split_between_holders_without_overlap(store: SqlStore) -> None:
    names = [f"job:{i}" for i in range(1200)]  # more than one chunk
    a = await store.acquire_leases(names[:700], "a", now=T0, ttl=30)
    b = await store.acquire_leases(names, "b", now=T0, ttl=30)
    assert set(a) == set(names[:700]) and set(b) == set(names[700:])
    later = await store.acquire_leases(names, "b", now=T0 + timedelta(seconds=30), ttl=30)
    assert set(later) == set(names)


async def _feeds(store: SqlStore, n: int) -> list[str]:
    specs = [FeedSpec(id=f"f{i:05d}", name=f"Feed {i}", url=f"https://x.test/{i}") for i in range(n)]
    await store.sync_feeds(specs)
    return [s.id for s in specs]


async def test_the_claims_of_a_dead_replica_are_void_once_it_is_seen_dead(store: SqlStore) -> None:
    ids = await _feeds(store, 3)
    await store.heartbeat(replica("dead", T0))
    await store.heartbeat(replica("live", T0 + timedelta(seconds=20)))
    assert len(await store.claim_due_feeds("dead", now=T0, ttl=60, limit=2)) == 2  # then killed mid-poll
    now = T0 + timedelta(seconds=20)
    fresh = now - timedelta(seconds=15)
    assert [f.id for f in await store.claim_due_feeds("live", now=now, ttl=60, limit=10)] == [ids[2]]
    await store.release_feeds([ids[2]], "live")
    # a replica whose heartbeat is older than ``alive_since`` holds nothing: its feeds come back now
    back = await store.claim_due_feeds("live", now=now, ttl=60, limit=10, alive_since=fresh)
    assert sorted(f.id for f in back) == ids
    # a live holder's claims stay its own, and a forced claim respects them too
    assert await store.claim_due_feeds("other", now=now, ttl=60, limit=10, alive_since=fresh) == []
    assert not await store.claim_feed(ids[0], "other", now=now, ttl=60, alive_since=fresh)
    later = now + timedelta(seconds=16)  # "live" has not beaten since ``now``: dead in its turn
    assert not await store.claim_feed(ids[0], "other", now=later, ttl=60)
    assert await store.claim_feed(
        ids[0], "other", now=later, ttl=60, alive_since=later - timedelta(seconds=15)
    )


async def test_due_feeds_are_claimed_once_until_the_claim_expires_or_is_released(store: SqlStore) -> None:
    ids = await _feeds(store, 10)
    first = [f.id for f in await store.claim_due_feeds("a", now=T0, ttl=60, limit=4)]
    second = [f.id for f in await store.claim_due_feeds("b", now=T0, ttl=60, limit=100)]
    assert len(first) == 4 and len(second) == 6 and not set(first) & set(second)
    assert await store.claim_due_feeds("c", now=T0 + timedelta(seconds=59), ttl=60, limit=100) == []
    assert await store.feed_claims() == {"a": 4, "b": 6}
    # "a" polled its feeds: state saved (next poll in 2 minutes), claims released
    for fid in first:
        state = await store.get_feed(fid)
        assert state is not None
        await store.save_feed_state(_polled(state, T0 + timedelta(minutes=2)))
    await store.release_feeds(first, "a")
    # "b" died: its claims expire and another replica takes its feeds; "a"'s are not due yet
    taken = [
        f.id for f in await store.claim_due_feeds("c", now=T0 + timedelta(seconds=61), ttl=60, limit=100)
    ]
    assert sorted(taken) == sorted(second)
    assert not await store.claim_feed(second[0], "a", now=T0 + timedelta(seconds=62), ttl=60)
    assert await store.claim_feed(first[0], "a", now=T0 + timedelta(seconds=62), ttl=60)  # forced poll
    due_again = await store.claim_due_feeds("a", now=T0 + timedelta(minutes=3), ttl=60, limit=100)
    assert set(first[1:]) <= {f.id for f in due_again}
    polled = next(f for f in due_again if f.id == first[1])
    assert polled.last_status == "200" and polled.next_poll_at == T0 + timedelta(minutes=2)  # shared state
    assert set(ids) == set(first) | set(second)
    only = await store.claim_due_feeds("z", now=T0 + timedelta(minutes=10), ttl=60, limit=100, only=[ids[0]])
    assert [f.id for f in only] == [ids[0]]
    # a tick a little early: due within the next 30 s counts as due now
    await store.release_feeds([ids[0]], "z")
    state = await store.get_feed(ids[0])
    assert state is not None
    await store.save_feed_state(_polled(state, T0 + timedelta(minutes=12)))
    early = T0 + timedelta(minutes=11, seconds=40)
    assert await store.claim_due_feeds("z", now=early, ttl=60, limit=1, only=[ids[0]]) == []
    got = await store.claim_due_feeds(
        "z", now=early, ttl=60, limit=1, only=[ids[0]], due_by=early + timedelta(seconds=30)
    )
    assert [f.id for f in got] == [ids[0]]


def _polled(state: FeedState, next_poll: datetime) -> FeedState:
    from dataclasses import replace

    return replace(state, next_poll_at=next_poll, last_polled_at=T0, last_status="200")


async def test_disabled_feeds_are_never_claimed(store: SqlStore) -> None:
    ids = await _feeds(store, 3)
    state = await store.get_feed(ids[1])
    assert state is not None
    from dataclasses import replace

    await store.save_feed_state(replace(state, disabled_reason="gone", consecutive_failures=10))
    await store.sync_feeds(
        [FeedSpec(id=i, name=i, url=f"https://x.test/{i}", enabled=i != ids[2]) for i in ids]
    )
    claimed = [f.id for f in await store.claim_due_feeds("a", now=T0, ttl=60, limit=10)]
    assert ids[2] not in claimed and ids[1] not in claimed and ids[0] in claimed


async def test_state_versions_count_changes(store: SqlStore) -> None:
    assert await store.version("catalog") == 0
    assert await store.bump_version("catalog", now=T0) == 1
    assert await store.bump_version("catalog", now=T0) == 2
    assert await store.version("catalog") == 2 and await store.version("other") == 0


@pytest.mark.postgres
async def test_concurrent_replicas_never_claim_the_same_feed_or_lease(postgres: object) -> None:
    url = await postgres.new_database()  # type: ignore[attr-defined]
    async with open_store(url) as first:
        ids = await _feeds(first, 600)

        async def replica_claims(name: str) -> tuple[list[str], dict[str, object]]:
            async with open_store(url, migrate=False) as s:
                feeds: list[str] = []
                leases: dict[str, object] = {}
                for _ in range(6):
                    feeds += [f.id for f in await s.claim_due_feeds(name, now=T0, ttl=60, limit=40)]
                    leases.update(
                        await s.acquire_leases([f"job:{i}" for i in range(50)], name, now=T0, ttl=60)
                    )
                return feeds, leases

        results = await asyncio.gather(*(replica_claims(f"r{i}") for i in range(6)))
    claimed = Counter(f for feeds, _ in results for f in feeds)
    assert max(claimed.values()) == 1, "a feed was claimed by two replicas"
    assert len(claimed) == len(ids)  # 6 replicas × 6 rounds × 40 ≥ 600: every feed went to someone
    holders = Counter(name for _, leases in results for name in leases)
    assert set(holders) == {f"job:{i}" for i in range(50)} and max(holders.values()) == 1


async def test_saving_polled_states_gives_the_savers_claims_back_and_no_one_elses(store: SqlStore) -> None:
    ids = await _feeds(store, 4)
    mine = [f.id for f in await store.claim_due_feeds("a", now=T0, ttl=60, limit=2)]
    theirs = [f.id for f in await store.claim_due_feeds("b", now=T0, ttl=60, limit=2)]
    states = [s for s in await store.list_feeds() if s.id in ids]
    # "a" saves all four (one of them "b" took over meanwhile): only its own claims go
    await store.save_feed_states([_polled(s, T0 + timedelta(seconds=10)) for s in states], release="a")
    assert await store.feed_claims() == {"b": 2}
    later = await store.claim_due_feeds("c", now=T0 + timedelta(seconds=30), ttl=60, limit=100)
    assert sorted(f.id for f in later) == sorted(mine)  # released and due; "b" still holds its own
    assert all(f.last_status == "200" for f in later)
    assert set(theirs).isdisjoint(f.id for f in later)


async def test_replicas_starting_together_sync_the_same_feeds_without_a_unique_key_error(
    database_url: str,
) -> None:
    specs = [FeedSpec(id=f"f{i:05d}", name=f"Feed {i}", url=f"https://x.test/{i}") for i in range(50)]
    async with open_store(database_url) as a, open_store(database_url) as b, open_store(database_url) as c:
        await asyncio.gather(*(s.sync_feeds(specs) for s in (a, b, c)))
        assert sorted(f.id for f in await a.list_feeds()) == [s.id for s in specs]


# ---------------------------------------------------------------- batched claims (FeedShare)


async def _share(store: SqlStore, clock: object, rid: str, **kw: int) -> FeedShare:
    node = Node(store, clock, replica_id=rid, host="h", pid=1, version="1")  # type: ignore[arg-type]
    await node.run_once()
    return FeedShare(node, store, **kw)


@pytest.mark.postgres
async def test_batched_claims_of_racing_replicas_are_disjoint_and_take_few_statements(
    postgres: object,
) -> None:
    """Three replicas (own engines) each ask for every feed at once, as their scheduled polls
    would after a view change: each feed goes to exactly one, in a handful of statements."""
    url = await postgres.new_database()  # type: ignore[attr-defined]
    clock = ManualClock(T0)
    async with open_store(url) as first:
        ids = await _feeds(first, 300)
        async with AsyncExitStack() as stack:
            shares = []
            for name in ("r1", "r2", "r3"):
                s = await stack.enter_async_context(open_store(url, migrate=False))
                shares.append(await _share(s, clock, name, max_batch=64))

            async def ask(share: FeedShare) -> list[str]:
                got = await asyncio.gather(*(share.claim(f, interval=120, owner=True) for f in ids))
                return [state.id for state in got if state is not None]

            results = await asyncio.gather(*(ask(share) for share in shares))
            for share in shares:
                await share.aclose()
        claimed = Counter(f for feeds in results for f in feeds)
        assert set(claimed) == set(ids) and max(claimed.values()) == 1
        for share in shares:  # 300 requests each, at most 64 per statement
            assert share.claims.requests == len(ids) and share.claims.batches <= len(ids) // 64 + 2
        holders = await first.feed_claims()
        expected = {name: len(feeds) for name, feeds in zip(("r1", "r2", "r3"), results, strict=True)}
        assert holders == {name: n for name, n in expected.items() if n}


async def test_a_batched_claim_is_taken_again_once_it_expires_or_its_holder_is_seen_dead(
    store: SqlStore,
) -> None:
    clock = ManualClock(T0)
    ids = await _feeds(store, 6)
    dead = await _share(store, clock, "dead")
    got = await asyncio.gather(*(dead.claim(f, interval=120, owner=True) for f in ids))
    assert all(state is not None for state in got) and dead.claims.batches == 1
    # "dead" never saves nor heartbeats again; a live replica asks while the claims are valid
    clock.advance(timedelta(seconds=10))
    live = await _share(store, clock, "live")
    assert await asyncio.gather(*(live.claim(f, interval=120, owner=False) for f in ids)) == [None] * 6
    # seen dead (no heartbeat for DEAD_AFTER): its claims are void for an owner's claim
    clock.advance(timedelta(seconds=DEAD_AFTER))
    await live.node.run_once()
    back = await asyncio.gather(*(live.claim(f, interval=120, owner=True) for f in ids[:3]))
    assert [s.id for s in back if s is not None] == ids[:3]
    # and without that (a holder that still heartbeats), a claim lapses after its ttl (a minute
    # at least, an interval here) for anyone whose claim the feed is due for
    await store.heartbeat(replica("dead", clock.now()))
    assert await live.claim(ids[3], interval=120, owner=True) is None
    clock.advance(timedelta(seconds=120))
    await store.heartbeat(replica("dead", clock.now()))
    assert (await live.claim(ids[3], interval=120, owner=True)) is not None
    await dead.aclose()
    await live.aclose()


async def test_a_claim_batch_is_capped_and_feeds_not_due_are_not_claimed(store: SqlStore) -> None:
    clock = ManualClock(T0)
    ids = await _feeds(store, 20)
    for fid in ids[10:]:  # polled a moment ago: due in two minutes
        state = await store.get_feed(fid)
        assert state is not None
        await store.save_feed_state(_polled(state, T0 + timedelta(minutes=2)))
    share = await _share(store, clock, "a", max_batch=4)
    got = await asyncio.gather(*(share.claim(f, interval=120, owner=True) for f in ids))
    assert [s.id for s in got if s is not None] == ids[:10]
    assert share.claims.batches == 5  # 20 requests, at most 4 feeds a statement
    assert await store.feed_claims() == {"a": 10}
    # an owner may claim a little early (its tick's jitter: 15 % of the interval), no earlier
    clock.advance(timedelta(seconds=90))
    assert await share.claim(ids[10], interval=120, owner=True) is None
    clock.advance(timedelta(seconds=13))
    assert await share.claim(ids[10], interval=120, owner=True) is not None
    # anyone else only once the feed is an interval overdue
    other = await _share(store, clock, "b")
    assert await other.claim(ids[11], interval=120, owner=False) is None
    clock.advance(timedelta(seconds=137))  # T0 + 4 min: its next poll (T0 + 2 min) an interval ago
    assert await other.claim(ids[11], interval=120, owner=False) is not None
    await share.aclose()
    await other.aclose()

"""This replica's heartbeat and the leases it keeps, on a real store and a manual clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.cluster import DEAD_AFTER, LeaseKeeper, Node
from bot.domain.timeutil import ManualClock
from bot.metrics import Metrics
from bot.store import SqlStore

T0 = datetime(2026, 12, 2, 14, 0, tzinfo=UTC)


def node(store: SqlStore, clock: ManualClock, rid: str) -> Node:
    return Node(store, clock, replica_id=rid, host="host", pid=1, version="1.0")


async def test_replicas_see_each_other_and_share_work_until_one_goes_silent(sqlite_store: SqlStore) -> None:
    clock = ManualClock(T0)
    a, b = node(sqlite_store, clock, "a"), node(sqlite_store, clock, "b")
    await a.run_once()
    assert await b.run_once() == 2
    assert b.share(1000) == 500 and b.share(1) == 1
    clock.advance(timedelta(seconds=DEAD_AFTER + 1))
    assert await b.run_once() == 1  # "a" stopped sending heartbeats
    assert b.share(1000) == 1000
    await b.leave()
    assert [r.id for r in await sqlite_store.replicas()] == ["a"]


async def test_a_lease_keeper_holds_renews_and_hands_over_only_after_expiry(sqlite_store: SqlStore) -> None:
    clock = ManualClock(T0)
    changes: list[tuple[str, bool]] = []

    def keeper(holder: str) -> LeaseKeeper:
        async def on_change(held: bool) -> None:
            changes.append((holder, held))

        return LeaseKeeper(
            sqlite_store, clock, name="discord:gateway", holder=holder, ttl=10, on_change=on_change
        )

    a, b = keeper("a"), keeper("b")
    assert await a.run_once() and not await b.run_once()
    clock.advance(timedelta(seconds=3))
    assert await a.run_once() and not await b.run_once()
    # "a" stops renewing (dead, or cut off from the database): it stops acting as holder after
    # 80% of the lease's life, before "b" can take over at 100%
    clock.advance(timedelta(seconds=8.5))
    assert not a.held
    assert not await b.run_once()
    clock.advance(timedelta(seconds=1.5))
    assert await b.run_once()
    assert changes == [("a", True), ("b", True)]
    await b.release()
    assert changes[-1] == ("b", False)
    assert await a.run_once()


def test_metrics_carry_the_replica_label_and_scrape_time_values() -> None:
    metrics = Metrics("r1")
    metrics.fetched(0.2, "200", lag=3.0)
    metrics.delivered("slack", "sent", story_age=12.0)
    text = metrics.exposition(
        {"uptime_seconds": 5.0, 'outbox_depth{status="pending"}': 3.0, "x_total": 2.0}
    ).decode()
    assert 'marketbot_feed_fetch_seconds_count{replica="r1",result="200"} 1.0' in text
    assert 'marketbot_poll_lag_seconds_sum{replica="r1"} 3.0' in text
    assert 'marketbot_story_to_post_seconds_count{platform="slack",replica="r1"} 1.0' in text
    assert 'marketbot_deliveries_total{platform="slack",replica="r1",result="sent"} 1.0' in text
    assert 'marketbot_uptime_seconds{replica="r1"} 5.0' in text
    assert 'marketbot_outbox_depth{replica="r1",status="pending"} 3.0' in text
    assert 'marketbot_x_total{replica="r1"} 2.0' in text


async def test_a_cluster_wide_job_runs_on_one_replica_and_moves_when_it_dies(sqlite_store: SqlStore) -> None:
    clock = ManualClock(T0)
    a, b = node(sqlite_store, clock, "a"), node(sqlite_store, clock, "b")
    assert await a.turn("store:retention", ttl=54) and not await b.turn("store:retention", ttl=54)
    clock.advance(timedelta(seconds=60))
    assert await a.turn("store:retention", ttl=54)  # the holder keeps its turn while it ticks
    assert not await b.turn("store:retention", ttl=54)
    assert await b.turn("notices:sweep", ttl=54)  # each job has its own lease
    clock.advance(timedelta(seconds=55))  # "a" died: its lease lapsed
    assert await b.turn("store:retention", ttl=54)

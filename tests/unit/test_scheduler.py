"""The one scheduling policy (bot.scheduler): job descriptions, cluster-wide turns, failures."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.cluster import Node
from bot.domain.errors import StoreError
from bot.domain.timeutil import ManualClock
from bot.ports import Job
from bot.scheduler import Scheduler, trigger_of
from bot.store import SqlStore
from tests.support.wait import wait_until

T0 = datetime(2026, 12, 2, 14, 0, tzinfo=UTC)
NY = ZoneInfo("America/New_York")


async def nothing() -> None:
    return None


def test_a_job_says_exactly_when_it_runs() -> None:
    with pytest.raises(ValueError, match="exactly one of every, daily_at or at_start"):
        Job("x", nothing)
    with pytest.raises(ValueError, match="exactly one"):
        Job("x", nothing, every=60, at_start=True)
    assert trigger_of(Job("x", nothing, every=60)).interval == timedelta(seconds=60)
    daily = trigger_of(Job("b", nothing, daily_at=time(8, 30), tz=NY))
    fire = daily.get_next_fire_time(None, datetime(2027, 3, 13, 18, 0, tzinfo=UTC))
    assert fire.astimezone(NY).time() == time(8, 30)  # wall time kept across the DST change


async def test_a_once_cluster_wide_job_runs_on_one_replica_per_tick(sqlite_store: SqlStore) -> None:
    clock = ManualClock(T0)
    runs: list[str] = []

    def replica(rid: str) -> tuple[Scheduler, Job]:
        node = Node(sqlite_store, clock, replica_id=rid, host="h", pid=1, version="1")

        async def purge() -> None:
            runs.append(rid)

        return Scheduler(tz=UTC, node=node), Job("store:retention", purge, every=60, once_cluster_wide=True)

    (a, job_a), (b, job_b) = replica("a"), replica("b")
    assert await a.tick(job_a) and not await b.tick(job_b)
    clock.advance(timedelta(seconds=30))
    assert await a.tick(job_a) and not await b.tick(job_b)  # the holder renews its turn
    clock.advance(timedelta(seconds=60))  # "a" died: its lease lapses within the interval
    assert await b.tick(job_b)
    assert runs == ["a", "a", "b"]


async def test_a_failing_job_is_one_line_and_runs_again(caplog: pytest.LogCaptureFixture) -> None:
    calls = 0

    async def flaky() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise StoreError("the database is not answering")

    scheduler = Scheduler(tz=UTC)
    job = Job("delivery:held", flaky, every=1, jitter=0, first_in=0, on_error="it runs again in 1 s")
    with caplog.at_level(logging.INFO, logger="bot.scheduler"):
        scheduler.add(job)
        scheduler.start()
        try:
            await wait_until(lambda: calls >= 2, what="the job running again after its failure")
        finally:
            scheduler.shutdown()
    failed = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert (
        failed[0].getMessage() == "delivery:held failed: the database is not answering; it runs again in 1 s"
    )
    assert failed[0].exc_info is None  # a database outage is one line, no traceback


async def test_jobs_are_replaced_moved_and_removed_by_name() -> None:
    scheduler = Scheduler(tz=UTC)
    scheduler.start()
    scheduler.add(Job("feed:a", nothing, every=300, title="poll A"))
    scheduler.add(Job("feed:a", nothing, every=600, title="poll A"))  # a changed interval replaces it
    job = scheduler.get("feed:a")
    assert (
        scheduler.names() == {"feed:a"} and job is not None and job.trigger.interval == timedelta(seconds=600)
    )
    try:
        when = datetime.now(UTC) + timedelta(hours=1)
        scheduler.run_at("feed:a", when)
        moved = scheduler.get("feed:a")
        assert moved is not None and moved.next_run_time == when
        scheduler.run_at("feed:gone", when)  # no such job: nothing
        scheduler.remove("feed:a")
        scheduler.remove("feed:a")
        assert scheduler.names() == set()
    finally:
        scheduler.shutdown()


async def test_a_database_outage_in_a_job_is_one_line_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def heartbeat() -> None:
        raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")

    scheduler = Scheduler(tz=UTC)
    with caplog.at_level(logging.INFO, logger="bot.scheduler"):
        assert not await scheduler.tick(
            Job("cluster:heartbeat", heartbeat, every=5, on_error="it runs again in 5 s")
        )
    (line,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert line.exc_info is None
    assert line.getMessage() == (
        "cluster:heartbeat failed, the database is unreachable "
        "([Errno 111] Connect call failed ('127.0.0.1', 5432)); it runs again in 5 s"
    )


async def test_a_bug_in_a_job_is_logged_with_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    async def broken() -> None:
        raise KeyError("boom")

    with caplog.at_level(logging.INFO, logger="bot.scheduler"):
        assert not await Scheduler(tz=UTC).tick(Job("moves:poll", broken, every=60))
    (line,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert (
        line.exc_info is not None and line.getMessage() == "moves:poll failed; it runs again at its next turn"
    )

"""Group commit (``bot.domain.batching.Batcher``): concurrent requests share one statement."""

from __future__ import annotations

import asyncio

import pytest

from bot.domain.batching import Batcher
from tests.support.wait import wait_until


class Statements:
    """A stand-in for a database statement run per batch; the test opens and closes a gate."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail: set[int] = set()

    async def run(self, requests: list[int]) -> list[int]:
        self.batches.append(list(requests))
        await self.gate.wait()
        if self.fail & set(requests):
            raise RuntimeError("the database refused")
        return [r * 10 for r in requests]


async def test_requests_made_together_go_in_one_batch_and_each_caller_gets_its_result() -> None:
    db = Statements()
    batcher = Batcher(db.run, max_batch=100)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(20)))
    assert results == [i * 10 for i in range(20)]
    assert db.batches == [list(range(20))]


async def test_requests_arriving_while_a_batch_is_in_flight_go_together_in_the_next() -> None:
    db = Statements()
    db.gate.clear()
    batcher = Batcher(db.run, max_batch=100)
    first = asyncio.ensure_future(batcher.submit(0))
    await wait_until(lambda: len(db.batches) == 1, what="the first statement running")
    later = [asyncio.ensure_future(batcher.submit(i)) for i in range(1, 8)]
    assert len(db.batches) == 1  # at most one statement in flight: the others wait for it
    db.gate.set()
    assert await first == 0 and [await f for f in later] == [i * 10 for i in range(1, 8)]
    assert db.batches == [[0], list(range(1, 8))]


async def test_a_batch_holds_at_most_max_batch_requests() -> None:
    db = Statements()
    batcher = Batcher(db.run, max_batch=8)
    await asyncio.gather(*(batcher.submit(i) for i in range(20)))
    assert [len(b) for b in db.batches] == [8, 8, 4]
    assert batcher.batches == 3 and batcher.requests == 20


async def test_a_failing_batch_fails_its_callers_only() -> None:
    db = Statements()
    db.gate.clear()
    db.fail = {1}
    batcher = Batcher(db.run, max_batch=100)
    first = asyncio.ensure_future(batcher.submit(0))
    await wait_until(lambda: len(db.batches) == 1, what="the first statement running")
    doomed = [asyncio.ensure_future(batcher.submit(i)) for i in (1, 2)]
    db.gate.set()
    assert await first == 0
    for f in doomed:
        with pytest.raises(RuntimeError, match="refused"):
            await f
    assert await batcher.submit(3) == 30  # the next batch works again


async def test_results_nobody_waits_for_any_more_are_handed_to_orphaned() -> None:
    db = Statements()
    db.gate.clear()
    orphans: list[tuple[int, int]] = []

    async def orphaned(pairs: list[tuple[int, int]]) -> None:
        orphans.extend(pairs)

    batcher = Batcher(db.run, max_batch=100, orphaned=orphaned)
    kept = asyncio.ensure_future(batcher.submit(1))
    gone = asyncio.ensure_future(batcher.submit(2))
    await wait_until(lambda: len(db.batches) == 1, what="the first statement running")
    gone.cancel()  # e.g. the poller stopping while the claim statement runs
    await asyncio.wait({gone})
    db.gate.set()
    assert await kept == 10
    await wait_until(lambda: orphans == [(2, 20)], what="the cancelled caller's result handed back")


async def test_closing_cancels_the_batch_in_flight_and_the_waiting_callers() -> None:
    db = Statements()
    db.gate.clear()
    batcher = Batcher(db.run, max_batch=1)
    calls = [asyncio.ensure_future(batcher.submit(i)) for i in range(3)]
    await wait_until(lambda: len(db.batches) == 1, what="the first statement running")
    await batcher.aclose()
    for call in calls:
        with pytest.raises(asyncio.CancelledError):
            await call
    db.gate.set()
    assert await batcher.submit(5) == 50  # usable again afterwards

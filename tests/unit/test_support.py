"""The test suite's own waiting and virtual-time helpers (tests/support): what a failing wait says."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.timeutil import ManualClock
from tests.support.clock import VirtualSleep
from tests.support.wait import WaitTimeout, wait_until, wait_until_sync


async def test_wait_until_returns_what_the_condition_returned() -> None:
    box: list[str] = []
    asyncio.get_running_loop().call_soon(box.append, "ready")
    assert await wait_until(lambda: box, what="the box filled") == ["ready"]


async def test_wait_until_takes_async_conditions() -> None:
    event = asyncio.Event()

    async def set_later() -> None:
        event.set()

    async def is_set() -> bool:
        return event.is_set()

    task = asyncio.create_task(set_later())
    assert await wait_until(is_set, what="the event set") is True
    await task


async def test_a_change_event_wakes_the_wait() -> None:
    changed = asyncio.Event()
    state = {"n": 0}

    async def bump() -> None:
        for _ in range(3):
            state["n"] += 1
            changed.set()
            await asyncio.sleep(0)  # noqa: TID251 - one loop turn between changes

    task = asyncio.create_task(bump())
    await wait_until(lambda: state["n"] == 3, what="three changes", changed=changed)
    await task


async def test_a_timeout_says_what_never_happened_and_what_was_seen() -> None:
    with pytest.raises(WaitTimeout, match=r"timed out after 0.05s waiting for the alert; .* returned \[\]"):
        await wait_until(list, what="the alert", timeout=0.05)


async def test_ignored_errors_count_as_not_yet_and_others_fail_at_once() -> None:
    attempts: list[int] = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionRefusedError("not listening yet")
        return "up"

    assert await wait_until(flaky, what="the server", ignoring=(OSError,)) == "up"
    with pytest.raises(WaitTimeout, match="last raised ConnectionRefusedError: nope"):
        await wait_until(_refused, what="the server", ignoring=(OSError,), timeout=0.05)
    with pytest.raises(ConnectionRefusedError):
        await wait_until(_refused, what="the server")


def _refused() -> None:
    raise ConnectionRefusedError("nope")


def test_the_sync_form_waits_the_same_way() -> None:
    calls = iter([0, 0, 7])
    assert wait_until_sync(lambda: next(calls), what="a seven") == 7
    with pytest.raises(WaitTimeout, match="waiting for a truthy value; the condition last returned 0"):
        wait_until_sync(lambda: 0, what="a truthy value", timeout=0.05)


async def test_virtual_sleep_moves_the_clock_and_records_the_waits() -> None:
    clock = ManualClock(datetime(2026, 11, 25, 13, 0, tzinfo=UTC))
    sleep = VirtualSleep(clock)
    await sleep(2.5)
    await sleep(0.5)
    assert clock.now() == datetime(2026, 11, 25, 13, 0, tzinfo=UTC) + timedelta(seconds=3)
    assert sleep.calls == [2.5, 0.5] and sleep.total == 3.0

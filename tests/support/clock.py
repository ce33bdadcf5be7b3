"""Virtual time for tests: sleeps that pass at once by moving a ``ManualClock``.

The product takes a ``sleep`` wherever it waits (rate-limit budgets, retry backoff): tests hand
it ``VirtualSleep(clock)``, so waits cost no real time, cannot be stretched by a busy machine, and
how long the product *asked* to wait is measured exactly (``total``, ``calls``).
"""

from __future__ import annotations

import asyncio

from bot.domain.timeutil import ManualClock


class VirtualSleep:
    """An ``async sleep(seconds)`` that advances ``clock`` instead of waiting (and records the waits)."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.calls: list[float] = []

    @property
    def total(self) -> float:
        """The virtual seconds slept so far."""
        return sum(self.calls)

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        self.clock.advance(seconds)
        await asyncio.sleep(0)  # still a suspension point, like a real sleep: other tasks run

"""Waiting on a condition with a generous deadline: how tests synchronise, never with a sleep."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any

DEADLINE = 90.0  # seconds; only so that a broken build fails instead of hanging


async def until(predicate: Callable[[], Any], what: str, *, timeout: float = DEADLINE) -> Any:
    """Wait until ``predicate()`` (sync or async) is truthy and return it; fail naming ``what``."""
    give_up = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > give_up:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        await asyncio.sleep(0.02)  # let the event loop run, then look again

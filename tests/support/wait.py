"""Waiting in tests: on a condition with a generous deadline, never on the clock.

A test that sleeps "long enough" or asserts "it took under X seconds" fails the day the machine
is busy. Instead, a test states what it waits *for*:

    await wait_until(lambda: chat.messages, what="the alert in the channel")
    row = await wait_until(lambda: store.get_feed("f1"), what="feed f1 saved")  # async conditions too
    wait_until_sync(health_ok, what="/healthz ok", ignoring=(OSError,))  # plain tests; not up yet

The condition is re-checked until it returns something truthy, which is returned. ``changed``
(an ``asyncio.Event`` a fake sets when its state changes) makes the re-check prompt; without a
signal it is still re-checked every 50 ms at most. The deadline (``WAIT_TIMEOUT``, 30 s) is only
a hang guard: conditions normally hold within milliseconds, so it is never the thing a test
measures. When it passes, the failure says what never happened and what the condition last
returned (or raised).

Virtual time lives in ``tests.support.clock``; a real ``sleep`` belongs only in a fake that
plays a slow server (the behaviour under test), with a comment saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

WAIT_TIMEOUT = 30.0  # generous: a hang guard, not a performance claim
_FIRST_POLL = 0.001
_MAX_POLL = 0.05  # re-check interval when nothing signals a change


class WaitTimeout(AssertionError):
    """A condition did not hold before the deadline (an assertion failure, shown as such by pytest)."""


def _describe(what: str, timeout: float, last: object, error: BaseException | None) -> str:
    message = f"timed out after {timeout:g}s waiting for {what}"
    if error is not None:
        return f"{message}; the condition last raised {type(error).__name__}: {error}"
    return f"{message}; the condition last returned {last!r}"


async def wait_until(
    condition: Callable[[], T | Awaitable[T]],
    *,
    what: str,
    timeout: float = WAIT_TIMEOUT,
    changed: asyncio.Event | None = None,
    ignoring: tuple[type[BaseException], ...] = (),
    every: float = _MAX_POLL,
) -> T:
    """Wait until ``condition()`` (sync or async) returns something truthy, and return it.

    Exceptions of the ``ignoring`` types count as "not yet" (e.g. ``OSError`` while a server is
    not listening yet); the last one is reported if the deadline passes. Others propagate.
    ``every`` caps the re-check interval (raise it for costly conditions, e.g. a subprocess).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    pause = _FIRST_POLL
    while True:
        if changed is not None:
            changed.clear()  # cleared before checking: a change during the check is not missed
        value: object = None
        error: BaseException | None = None
        try:
            value = condition()
            if inspect.isawaitable(value):
                value = await value
        except ignoring as exc:
            error = exc
        if value:
            return value  # type: ignore[return-value]
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise WaitTimeout(_describe(what, timeout, value, error)) from error
        if changed is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(remaining, every)):  # a change on our side is silent
                    await changed.wait()
        else:
            await asyncio.sleep(min(remaining, pause))  # a re-check interval, not a synchronisation
            pause = min(pause * 2, every)


def wait_until_sync(
    condition: Callable[[], T],
    *,
    what: str,
    timeout: float = WAIT_TIMEOUT,
    ignoring: tuple[type[BaseException], ...] = (),
    every: float = _MAX_POLL,
) -> T:
    """``wait_until`` for plain (non-async) tests: re-checks ``condition()`` until it is truthy."""
    deadline = time.monotonic() + timeout
    pause = _FIRST_POLL
    while True:
        value: object = None
        error: BaseException | None = None
        try:
            value = condition()
        except ignoring as exc:
            error = exc
        if value:
            return value  # type: ignore[return-value]
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise WaitTimeout(_describe(what, timeout, value, error)) from error
        time.sleep(min(remaining, pause))  # a re-check interval, not a synchronisation
        pause = min(pause * 2, every)

"""Blocking calls (yfinance, matplotlib) in worker threads, awaited under our own deadline.

A standard ``ThreadPoolExecutor`` joins its threads at interpreter exit, so one yfinance
call stuck on a blackholed network would hold ``marketbot quote`` open long after it
printed its error. These workers are daemon threads: an abandoned call never delays exit.
The pool is bounded; calls queued behind stuck workers simply time out.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

_Job = tuple[concurrent.futures.Future[Any], Callable[..., Any], tuple[Any, ...]] | None


class DaemonPool:
    """A fixed-size pool of daemon worker threads."""

    def __init__(self, size: int = 8, name: str = "marketbot-worker") -> None:
        self.size = max(1, size)
        self.name = name
        self._queue: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._busy = 0
        self._closed = False

    @property
    def busy(self) -> int:
        """Workers currently running a call (stuck ones included)."""
        return self._busy

    def submit(self, fn: Callable[..., T], *args: Any) -> concurrent.futures.Future[T]:
        if self._closed:
            raise RuntimeError("the worker pool is closed")
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._queue.put((fut, fn, args))
        self._grow()
        return fut

    def _grow(self) -> None:
        with self._lock:
            while len(self._threads) < self.size:  # started on first use, all at once
                t = threading.Thread(target=self._work, name=f"{self.name}-{len(self._threads)}", daemon=True)
                self._threads.append(t)
                t.start()

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            fut, fn, args = job
            if not fut.set_running_or_notify_cancel():
                continue
            with self._lock:
                self._busy += 1
            try:
                result = fn(*args)
            except BaseException as exc:
                fut.set_exception(exc)
            else:
                fut.set_result(result)
            finally:
                with self._lock:
                    self._busy -= 1

    def shutdown(self) -> None:
        """Stop idle workers; busy ones finish their call and exit (they are daemons anyway)."""
        self._closed = True
        for _ in self._threads:
            self._queue.put(None)

    async def run(
        self,
        fn: Callable[..., T],
        *args: Any,
        timeout: float,
        on_late: Callable[[T], None] | None = None,
    ) -> T:
        """Run ``fn(*args)`` in a worker; raise ``TimeoutError`` after ``timeout`` seconds.

        The call cannot be interrupted, so it keeps running after a timeout; if it then
        succeeds, ``on_late(result)`` is called on the event loop (e.g. to fill a cache).
        """
        fut = self.submit(fn, *args)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(fut), timeout)
        except TimeoutError:
            if fut.cancel():  # never started: nothing more to do
                raise
            if on_late is not None:
                loop = asyncio.get_running_loop()
                fut.add_done_callback(lambda f: _deliver_late(loop, f, on_late))
            raise


def _deliver_late(
    loop: asyncio.AbstractEventLoop, fut: concurrent.futures.Future[Any], cb: Callable[[Any], None]
) -> None:
    if fut.cancelled() or fut.exception() is not None:
        return
    with contextlib.suppress(RuntimeError):  # the loop is gone: nobody to tell
        loop.call_soon_threadsafe(cb, fut.result())

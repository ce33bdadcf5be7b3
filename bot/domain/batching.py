"""Group commit: many concurrent callers, one database statement per batch.

A ``Batcher`` collects the requests that arrive while its previous batch is in flight and runs
them together: under load each statement carries as many requests as arrived meanwhile (up to
``max_batch``), with no load a request waits for no one (it goes alone, after one turn of the
event loop that lets the callers woken together join it). At most one batch is in flight, so a
batcher holds at most one database connection at a time.

Every caller gets its own result; a failing batch fails each of its callers with the error. A
caller cancelled while its batch runs leaves the batch alone; ``orphaned`` (if given) is told
which results nobody waited for (a feed claimed for a poll that was cancelled: give it back).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    """Runs ``run(requests)`` (one result per request, in order) for batches of concurrent requests."""

    def __init__(
        self,
        run: Callable[[list[T]], Awaitable[Sequence[R]]],
        *,
        max_batch: int,
        orphaned: Callable[[list[tuple[T, R]]], Awaitable[None]] | None = None,
    ) -> None:
        self._run = run
        self.max_batch = max(1, max_batch)
        self._orphaned = orphaned
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._task: asyncio.Task[None] | None = None
        self.batches = 0  # statements run (for tests and the bench)
        self.requests = 0

    async def submit(self, request: T) -> R:
        """Queue ``request`` and wait for its batch's result."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((request, future))
        if self._task is None:
            self._task = asyncio.ensure_future(self._drain())
        return await future

    async def aclose(self) -> None:
        """Cancel the batch in flight; callers still waiting get ``CancelledError``."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task})
        for _, future in self._queue:
            future.cancel()
        self._queue.clear()

    async def _drain(self) -> None:
        try:
            while self._queue:
                await asyncio.sleep(0)  # the callers woken in the same turn join this batch
                batch = self._queue[: self.max_batch]
                del self._queue[: self.max_batch]
                await self._one(batch)
        except asyncio.CancelledError:
            for _, future in self._queue:
                future.cancel()
            self._queue.clear()
            raise
        finally:
            if self._task is asyncio.current_task():
                self._task = None

    async def _one(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        requests = [request for request, _ in batch]
        self.batches += 1
        self.requests += len(batch)
        try:
            results = list(await self._run(requests))
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        if len(results) != len(batch):  # a bug in ``run``: never leave a caller waiting
            error = RuntimeError(f"batch of {len(batch)} requests returned {len(results)} results")
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        orphans = []
        for (request, future), result in zip(batch, results, strict=True):
            if future.done():  # its caller was cancelled meanwhile
                orphans.append((request, result))
            else:
                future.set_result(result)
        if orphans and self._orphaned is not None:
            try:
                await self._orphaned(orphans)
            except Exception:  # best effort: what it would give back lapses by itself
                pass

"""The fake on its own event loop in a background thread, for sync code and subprocesses."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from tests.fakes.yahoo.server import YahooFake

# ---------------------------------------------------------------- running it elsewhere


class YahooFakeThread:
    """The fake on its own event loop in a background thread (for sync tests and subprocesses)."""

    def __init__(self, **kwargs: Any) -> None:
        self._kwargs = kwargs
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="yahoo-fake", daemon=True)
        self.fake: YahooFake

    def __enter__(self) -> YahooFake:
        self._thread.start()

        async def make() -> YahooFake:
            fake = YahooFake(**self._kwargs)
            await fake.start()
            return fake

        self.fake = asyncio.run_coroutine_threadsafe(make(), self._loop).result(10)
        return self.fake

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the fake's loop (e.g. ``lambda: fake.fail("quote", "hang")``)."""

        async def run() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.fake.close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

"""The watchlist catalog: config watchlists plus chat-created ones, compiled into one matcher,
and the feeds added from chat (the poller's source list reads them at each refresh).

Delivery matches stories through ``catalog.matcher``; commands edit stored watchlists and call
``reload()`` so that edits take effect at the next poll without a restart.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Protocol

from bot.domain.models import Watchlist
from bot.domain.records import ChatFeed
from bot.domain.rules import Matcher, SymbolDirectory, compile_matcher
from bot.ports import FeedStore, WatchlistStore

log = logging.getLogger(__name__)


class CatalogStore(FeedStore, WatchlistStore, Protocol):
    """The store capabilities the catalog uses."""


class Catalog:
    """Every watchlist the bot knows and the matcher compiled from them."""

    def __init__(
        self,
        *,
        store: CatalogStore,
        config_watchlists: Sequence[Watchlist],
        directory: SymbolDirectory,
        aliases: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self._store = store
        self._config = tuple(config_watchlists)
        self.directory = directory
        self.aliases: Mapping[str, Sequence[str]] = dict(aliases or {})
        self._stored: tuple[Watchlist, ...] = ()
        self._feeds: tuple[ChatFeed, ...] = ()
        self._matcher: Matcher | None = None
        self._first: concurrent.futures.Future[Matcher] | None = None  # start()'s compile
        self._compiler: threading.Thread | None = None  # runs it, from begin() on
        self._begin_lock = threading.Lock()
        self._lock = asyncio.Lock()
        self.version = 0

    @property
    def matcher(self) -> Matcher:
        """The compiled matcher (``reload()`` or ``start()`` must have run once).

        Right after ``start()``, while its compile runs, this waits for it (blocking the
        caller): code on the event loop awaits ``compiled()`` first.
        """
        if self._matcher is None:
            if self._first is None:
                raise RuntimeError("Catalog.reload() has not run yet")
            self.begin()
            return self._first.result()
        return self._matcher

    async def compiled(self) -> Matcher:
        """The compiled matcher, once the compile ``start()`` prepared has finished (it begins
        now if ``begin()`` was not called yet)."""
        if self._matcher is None and self._first is not None:
            self.begin()
            await asyncio.wrap_future(self._first)
        return self.matcher

    def begin(self) -> None:
        """Begin the compile ``start()`` prepared, in its worker thread (once; no-op otherwise)."""
        with self._begin_lock:
            compiler, self._compiler = self._compiler, None
        if compiler is not None:
            compiler.start()

    async def start(self) -> asyncio.Task[None]:
        """The first load without waiting for the compile: the stored watchlists and chat feeds
        are read now (``all()`` and ``chat_feeds()`` answer at once) and the matcher compiles in
        a worker thread from ``begin()`` on (or the first ``compiled()``: the caller first
        finishes its start-up, which the thread would share the interpreter with), holding the
        lock (a ``reload()`` waits for it). Returns the task that ends with the compile (its
        error, if it fails).
        """
        await self._lock.acquire()
        try:
            stored, feeds = await self._read()
        except BaseException:
            self._lock.release()
            raise
        self._stored, self._feeds = stored, feeds
        watchlists = [*self._config, *stored]
        first: concurrent.futures.Future[Matcher] = concurrent.futures.Future()
        first.set_running_or_notify_cancel()
        started = 0.0

        def work() -> None:
            nonlocal started
            started = time.perf_counter()
            try:
                first.set_result(compile_matcher(watchlists, self.directory, self.aliases))
            except BaseException as exc:
                first.set_exception(exc)

        self._first = first
        self._compiler = threading.Thread(target=work, name="matcher-compile", daemon=True)

        async def finish() -> None:
            try:
                self._matcher = await asyncio.wrap_future(first)
                self.version += 1
                self._compiled_log(len(stored), started)
            finally:
                self._lock.release()

        return asyncio.create_task(finish(), name="matcher-compile")

    async def _read(self) -> tuple[tuple[Watchlist, ...], tuple[ChatFeed, ...]]:
        return tuple(await self._store.list_watchlists()), tuple(await self._store.list_chat_feeds())

    def _compiled_log(self, stored: int, started: float) -> None:
        log.info(
            "watchlists compiled: %d from config, %d from chat in %.0f ms",
            len(self._config),
            stored,
            (time.perf_counter() - started) * 1000,
        )

    async def use_directory(self, directory: SymbolDirectory) -> None:
        """Recompile with a new symbol directory (company names refreshed)."""
        self.directory = directory
        await self.reload()

    async def reload(self) -> None:
        """Re-read stored watchlists and recompile the matcher (atomic swap)."""
        async with self._lock:
            stored, feeds = await self._read()
            started = time.perf_counter()
            watchlists = [*self._config, *stored]
            # incremental: only what changed since the last compile (a full compile of 10,000
            # watchlists takes most of a second), and in a worker thread, never on the event loop
            matcher = await asyncio.to_thread(
                compile_matcher, watchlists, self.directory, self.aliases, previous=self._matcher
            )
            self._stored, self._matcher, self._feeds = stored, matcher, feeds
            self.version += 1
            self._compiled_log(len(stored), started)

    def all(self) -> list[Watchlist]:
        """Config watchlists first, then every chat watchlist."""
        return [*self._config, *self._stored]

    def chat_feeds(self, scope: str | None = None) -> list[ChatFeed]:
        """Feeds added from chat (a workspace's or guild's only, given ``scope``), as of the last reload."""
        return [f for f in self._feeds if scope is None or f.scope == scope]

    def config_watchlists(self) -> list[Watchlist]:
        return list(self._config)

    def visible(self, scope: str) -> list[Watchlist]:
        """What a workspace or guild sees: the config's watchlists and its own."""
        return [*self._config, *(w for w in self._stored if w.scope == scope)]

    def find(self, scope: str, name: str) -> Watchlist | None:
        """A watchlist by case-insensitive name: the config's first, then the workspace's own."""
        key = name.lower()
        for w in self.visible(scope):
            if w.name.lower() == key:
                return w
        return None

    def get(self, scope: str, name: str) -> Watchlist | None:
        """The watchlist with exactly this scope and (case-insensitive) name."""
        key = name.lower()
        source = self._config if scope == "config" else self._stored
        return next((w for w in source if w.scope == scope and w.name.lower() == key), None)

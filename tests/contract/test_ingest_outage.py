"""The database goes away mid-cycle (PostgreSQL behind a proxy the test cuts) or fills up (SQLite
with a page limit): the poller, the pipeline and the dispatcher log one clear line, keep running,
store nothing by halves and lose nothing; once the database is back, everything arrives once.

Real parts throughout: the feed host on loopback, the SQL store, the poller, the alert pipeline,
the dispatcher; only time is a manual clock (and the quote service an in-memory port).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url

from bot.config import IngestConfig
from bot.domain.models import Story, StorySource
from bot.domain.records import FeedSpec
from bot.domain.timeutil import ManualClock
from bot.ingest.poller import Poller
from bot.ingest.sources import FeedSource
from bot.store import SqlStore, open_store
from tests.fakes.feed_host import Entry, FeedHost, entry, rss
from tests.fakes.tcp_proxy import TcpProxy
from tests.support.wait import wait_until
from tests.unit.delivery.support import SLACK_A, World, make_world

INGEST = IngestConfig(total_timeout=5)
OLD = "Quarterly calendar of earnings releases"


def item(clock: ManualClock, title: str, n: int, *, summary: str = "") -> Entry:
    return entry(
        title,
        f"https://wire.test/{n}",
        guid=f"g{n}",
        published=clock.now() - timedelta(minutes=1),
        description=summary,
    )


def wire(url: str) -> FeedSource:
    return FeedSource(FeedSpec(id="wire", name="Wire", url=url))


def poller(w: World, url: str, clock: ManualClock) -> Poller:
    async def on_stories(stories: list[Story]) -> None:
        await w.pipeline.process(stories)

    async def on_sources(pairs: list[tuple[str, StorySource]]) -> None:
        await w.pipeline.process_new_sources(pairs)

    return Poller(
        store=w.store,
        sources=[wire(url)],
        config=INGEST,
        on_stories=on_stories,
        on_sources=on_sources,
        clock=clock,
    )


async def count(store: SqlStore, table: str) -> int:
    async with store.engine.connect() as conn:
        return int((await conn.execute(sa.text(f"SELECT count(*) FROM {table}"))).scalar_one())


def titles(w: World) -> list[str]:
    return [a.title for a in w.chat["slack"].alerts(SLACK_A.channel)]


@pytest.fixture
async def host() -> AsyncIterator[FeedHost]:
    async with FeedHost() as h:
        yield h


@pytest.mark.postgres
async def test_postgres_going_away_mid_cycle_loses_nothing(
    postgres: Any, host: FeedHost, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    real = await postgres.new_database()
    server = make_url(real)
    async with (
        TcpProxy(server.host or "127.0.0.1", server.port or 5432) as proxy,
        open_store(proxy.database_url(real)) as store,
    ):
        w = await make_world(store, clock, prices={"AMZN": (181.2, 182.69)})
        await w.subscribe("cloud-china", SLACK_A)
        url = host.serve("/wire.xml", rss([item(clock, OLD, 0)]), etag='"1"')
        async with poller(w, url, clock) as p:
            await p.run_once()  # the first poll is stored, not alerted

            # 1. the database goes away while the cycle stores: the feed keeps its validators
            first = item(clock, "Amazon cloud unit faces new export control rules", 1)
            host.update("/wire.xml", body=rss([first, item(clock, OLD, 0)]), etag='"2"')
            clock.advance(120)
            await proxy.cut()
            (result,) = (await p.run_once()).feeds
            assert result.status == "error" and "the database failed" in (result.error or "")
            assert p.states["wire"].etag == '"1"'  # the items were not stored: read them again
            assert any("check that it is running and reachable" in r.getMessage() for r in caplog.records)

            # back: the same items are read again, stored and alerted
            proxy.restore()
            clock.advance(120)
            report = await p.run_once()
            assert report.new_items == 1 and [s.title for s in report.stories] == [first.title]
            assert await w.deliver() == 1

            # 2. it goes away while the new alert waits for prices: the hand-off keeps the story
            second = item(clock, "Microsoft cloud growth slows as export control bites", 2)
            host.update("/wire.xml", body=rss([second, first, item(clock, OLD, 0)]), etag='"3"')
            clock.advance(120)
            w.quotes.gate = asyncio.Event()
            w.quotes.calls.clear()
            cycle = asyncio.create_task(p.run_once())
            await wait_until(lambda: w.quotes.calls, what="the pipeline to ask for prices")
            await proxy.cut()
            w.quotes.gate.set()
            report = await cycle  # the poller carries on: nothing raised
            assert [s.title for s in report.stories] == [second.title]
            assert any("queuing the alerts of 1 new stories" in r.getMessage() for r in caplog.records)

            # the dispatcher keeps running through the outage
            dispatching = asyncio.create_task(w.dispatcher.run())
            await wait_until(
                lambda: any("claiming due alerts failed" in r.getMessage() for r in caplog.records),
                what="the dispatcher to report the outage",
            )
            assert not dispatching.done()

            proxy.restore()
            assert await w.pipeline.resume() == 1  # what start-up and the sweep do
            await wait_until(lambda: len(titles(w)) == 2, what="the second alert")
            await w.dispatcher.aclose()
            await dispatching
            assert await w.pipeline.resume() == 0
            assert titles(w) == [first.title, second.title]
            assert await count(store, "handoffs") == 0


async def _page_limit(store: SqlStore) -> dict[str, int | None]:
    """Cap the SQLite file at its current size for every connection (a disk that is full)."""
    limit: dict[str, int | None] = {"pages": None}

    def apply(dbapi_conn: Any, _record: Any) -> None:
        if limit["pages"] is not None:
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA max_page_count = {int(limit['pages'])}")
            cur.close()

    event.listen(store.engine.sync_engine, "connect", apply)
    async with store.engine.connect() as conn:
        limit["pages"] = int((await conn.execute(sa.text("PRAGMA page_count"))).scalar_one())
    await store.engine.dispose()  # every connection from now on gets the limit
    return limit


async def test_a_full_sqlite_disk_gives_a_clear_error_and_nothing_half_written(
    sqlite_store: SqlStore, host: FeedHost, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    w = await make_world(sqlite_store, clock, prices={"AMZN": (181.2, 182.69)})
    await w.subscribe("cloud-china", SLACK_A)
    url = host.serve("/wire.xml", rss([item(clock, OLD, 0)]), etag='"1"')
    async with poller(w, url, clock) as p:
        await p.run_once()
        before = {t: await count(sqlite_store, t) for t in ("items", "stories", "story_sources", "handoffs")}

        padding = "Cloud export control news. " * 40
        fresh = [
            item(clock, f"Amazon cloud export control update number {n}", n, summary=padding)
            for n in range(1, 300)
        ]
        host.update("/wire.xml", body=rss([*fresh, item(clock, OLD, 0)]), etag='"2"')
        limit = await _page_limit(sqlite_store)
        clock.advance(120)
        caplog.clear()
        with caplog.at_level(logging.ERROR):
            (result,) = (await p.run_once()).feeds
        assert result.status == "error"
        assert "the database is full" in (result.error or "") and "free disk space" in (result.error or "")
        failures = [r for r in caplog.records if "the database is full" in r.getMessage()]
        assert failures and all(r.exc_info is None for r in failures)  # one clear line, no traceback
        # nothing half-written: no item without its story, no story without its hand-off
        assert {t: await count(sqlite_store, t) for t in before} == before
        assert (await sqlite_store.get_feed("wire")).etag == '"1"'  # type: ignore[union-attr]
        assert titles(w) == []

        # space is freed: the next poll stores everything and alerts once
        limit["pages"] = None
        await sqlite_store.engine.dispose()
        clock.advance(120)
        report = await p.run_once()
        assert report.new_items == 299
        await w.deliver()
        assert len(titles(w)) == 299 and len(set(titles(w))) == 299
        assert await count(sqlite_store, "handoffs") == 0

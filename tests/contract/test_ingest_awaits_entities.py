"""At start-up the matcher (the clustering's entity detector) compiles in a worker thread: an
ingest that arrives before it is ready waits for it without blocking the event loop, then
clusters with it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from bot.config import IngestConfig
from bot.domain.records import FeedSpec
from bot.domain.timeutil import ManualClock
from bot.ingest.pipeline import FeedItems, Ingestor
from bot.store import SqlStore
from tests.support.factories import item

T0 = datetime(2026, 12, 2, 13, 5, tzinfo=UTC)


async def test_ingest_waits_for_the_entity_detector_then_uses_it(sqlite_store: SqlStore) -> None:
    feed = FeedSpec(id="wire", name="wire", url="https://wire.test/rss")
    await sqlite_store.sync_feeds([feed])
    ready = asyncio.Event()
    asked: list[str] = []

    def entities(title: str) -> list[str]:
        assert ready.is_set(), "the detector was used before it was ready"
        asked.append(title)
        return ["AMZN"] if "Amazon" in title else []

    waiting = asyncio.Event()

    async def wait_ready() -> None:
        waiting.set()
        await ready.wait()

    ing = Ingestor(sqlite_store, config=IngestConfig(), clock=ManualClock(T0))
    ing.use_entities(entities, ready=wait_ready)
    title = "Amazon shares fall on report US to curb cloud access"
    copy = "UPDATE 1-Amazon shares fall on report US to curb cloud access"
    items = [item("wire", at=T0, title=title), item("wire", at=T0, title=copy, link="https://wire.test/2")]
    task = asyncio.create_task(ing.ingest(FeedItems(feed, items)))
    await asyncio.wait_for(waiting.wait(), timeout=30)  # the loop runs on while the ingest waits
    assert not task.done() and asked == []
    ready.set()
    result = await asyncio.wait_for(task, timeout=30)
    assert len(result.new_stories) == 1  # the copy joined the story
    assert asked  # clustered with the detector once it was ready

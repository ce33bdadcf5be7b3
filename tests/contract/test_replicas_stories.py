"""Two replicas ingest copies of one event from two feeds at the same moment: one story.

Each replica has its own store (its own engine and connections, as separate processes have) and
its own in-memory story index; the database serialises their ingest sections and each index
takes in what the other stored. Without that, each would found its own story.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from bot.config import IngestConfig
from bot.domain.models import NewsItem
from bot.domain.records import FeedSpec
from bot.domain.timeutil import ManualClock
from bot.ingest.pipeline import FeedItems, Ingestor
from bot.store import SqlStore, open_store
from tests.support.factories import item

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 12, 2, 13, 5, tzinfo=UTC)
TITLE = "Amazon, Microsoft shares fall on report US to curb cloud access for Chinese AI firms"


def copy(feed: str, outlet: str, title: str, link: str) -> NewsItem:
    """``outlet``'s copy of the story as ``feed`` serves it, published three minutes before ``T0``."""
    return item(feed, at=T0, published_at=T0 - timedelta(minutes=3), source=outlet, title=title, link=link)


def ingestor(store: SqlStore, clock: ManualClock) -> Ingestor:
    ing = Ingestor(store, config=IngestConfig(), clock=clock, handoffs=("story", "sources"))
    ing.use_entities(lambda title: [t for t in ("AMZN", "MSFT") if t.lower()[:2] in title.lower()])
    ing.use_replicas(store.ingest_section)
    return ing


async def test_copies_fetched_by_two_replicas_at_once_are_one_story(postgres: object) -> None:
    url = await postgres.new_database()  # type: ignore[attr-defined]
    clock = ManualClock(T0)
    async with open_store(url) as one, open_store(url) as two:
        reuters, cnbc, third = (
            FeedSpec(id=f, name=f, url=f"https://{f}.test/rss") for f in ("reuters", "cnbc", "wire")
        )
        for store in (one, two):
            await store.sync_feeds([reuters, cnbc, third])
        a, b = ingestor(one, clock), ingestor(two, clock)
        await a.load()
        await b.load()
        results = await asyncio.gather(
            a.ingest(
                FeedItems(reuters, [copy("reuters", "Reuters", f"{TITLE} - Reuters", "https://r.test/1")])
            ),
            b.ingest(FeedItems(cnbc, [copy("cnbc", "CNBC", f"UPDATE 1-{TITLE}", "https://c.test/1")])),
        )
        founded = [s for r in results for s in r.new_stories]
        assert len(founded) == 1, [s.title for s in founded]
        assert sum(len(r.new_sources) for r in results) == 1  # the other copy joined it
        # later, the first replica sees the second's copy too (a third outlet joins the same story)
        clock.advance(timedelta(minutes=1))
        later = await a.ingest(FeedItems(third, [copy("wire", "Wire", TITLE, "https://w.test/9")]))
        assert later.new_stories == () and len(later.new_sources) == 1
        async with one.engine.connect() as conn:
            assert (await conn.execute(sa.text("SELECT count(*) FROM stories"))).scalar_one() == 1
            assert (await conn.execute(sa.text("SELECT count(*) FROM story_sources"))).scalar_one() == 3

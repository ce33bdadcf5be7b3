"""One in-flight guard for every poll path, stopping mid-cycle, and what survives a failing hand-on.

The start-up race of issue 14: the first ``run_once`` and a feed's first scheduled job poll the
same feed at the same moment, and one saves the new ETag while the other still holds the items.
Here a request is held open at the feed host while the other paths try the same feed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.config import IngestConfig
from bot.domain.models import Story
from bot.domain.records import FeedSpec
from bot.domain.timeutil import ManualClock
from bot.ingest.poller import Poller
from bot.ingest.sources import FeedSource
from bot.store import open_store
from tests.fakes.feed_host import FeedHost, entry, rss
from tests.support.wait import wait_until

CONFIG = IngestConfig(total_timeout=60)


@pytest.fixture
async def host() -> AsyncIterator[FeedHost]:
    async with FeedHost() as h:
        yield h


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'marketbot.db'}"


def feed(url: str) -> FeedSource:
    return FeedSource(FeedSpec(id="a", name="Feed A", url=url, backfill=5))


async def test_every_poll_path_shares_one_in_flight_guard_and_stop_cancels_safely(
    host: FeedHost, db: str, clock: ManualClock
) -> None:
    published = clock.now() - timedelta(minutes=5)
    url = host.serve(
        "/a.xml", rss([entry("Chipmakers rally on export news", "https://a.test/1", published=published)])
    )
    host.update("/a.xml", etag='"v1"', delay=60)  # the response takes a while
    alerted: list[str] = []

    async def on_stories(stories: list[Story]) -> None:
        alerted.extend(s.title for s in stories)

    async with open_store(db) as store:
        poller = Poller(store=store, sources=[feed(url)], config=CONFIG, on_stories=on_stories, clock=clock)
        await poller.start()
        first = asyncio.create_task(poller.run_once(due_only=True))  # the start-up poll
        await wait_until(lambda: host.hits.get("/a.xml"), what="the start-up poll to reach the feed")

        assert await poller.poll_feed("a") is None  # the feed's scheduled job: already in flight
        report = await poller.run_once(force=True)  # nor does a forced cycle poll it twice
        assert [(f.status, f.skipped) for f in report.feeds] == [("skipped", "already being polled")]
        assert host.hits["/a.xml"] == 1

        await poller.stop()  # SIGTERM: the cycle in flight is cancelled
        stopped = await first
        assert stopped.interrupted and stopped.feeds == ()
        assert await poller.poll_feed("a") is None  # and nothing starts any more
        state = await store.get_feed("a")
        assert state is not None and state.etag is None and state.last_polled_at is None
        await poller.aclose()

        host.update("/a.xml", delay=0)
        async with Poller(
            store=store, sources=[feed(url)], config=CONFIG, on_stories=on_stories, clock=clock
        ) as again:
            (result,) = (await again.run_once()).feeds
        assert result.status == "200" and alerted == ["Chipmakers rally on export news"]
        assert (await store.get_feed("a")).etag == '"v1"'  # type: ignore[union-attr]


async def test_a_failing_hand_on_leaves_the_story_to_the_sweep_and_the_cycle_goes_on(
    host: FeedHost, db: str, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    published = clock.now() - timedelta(minutes=5)
    url = host.serve(
        "/a.xml", rss([entry("Cloud curbs widen", "https://a.test/1", published=published)]), etag='"v1"'
    )

    async def on_stories(stories: list[Story]) -> None:
        raise RuntimeError("the pipeline fell over")

    async with (
        open_store(db) as store,
        Poller(store=store, sources=[feed(url)], config=CONFIG, on_stories=on_stories, clock=clock) as poller,
    ):
        (result,) = (await poller.run_once()).feeds
        assert result.status == "200" and result.alerted == 1
        assert any("queuing the alerts of 1 new stories" in r.getMessage() for r in caplog.records)
        (handoff,) = await store.pending_handoffs(due_before=clock.now())
        assert handoff.kind == "story"  # the sweep finishes it
        # the items are stored with their hand-off, so the validators can be kept
        assert (await store.get_feed("a")).etag == '"v1"'  # type: ignore[union-attr]


async def test_the_scheduled_job_keeps_a_retry_after_to_the_second(
    host: FeedHost, db: str, clock: ManualClock
) -> None:
    url = host.serve("/a.xml", b"", fail_times=1, fail_status=429, retry_after="3600")
    async with (
        open_store(db) as store,
        Poller(store=store, sources=[feed(url)], config=CONFIG, clock=clock) as poller,
    ):
        result = await poller.poll_feed("a")
        assert result is not None and result.status == "error"
        asked = poller.states["a"].next_poll_at
        assert asked is not None and asked - clock.now() >= timedelta(seconds=3600)
        assert poller.states["a"].last_error == "HTTP 429 Too Many Requests (Retry-After: 1h)"
        clock.set(asked - timedelta(seconds=1))
        assert await poller.poll_feed("a") is None  # a regular tick may come early; this may not
        assert host.hits["/a.xml"] == 1
        clock.set(asked)
        result = await poller.poll_feed("a")
        assert result is not None and host.hits["/a.xml"] == 2

"""Retention contract on SQLite and PostgreSQL: old rows go in small batches, dedup survives.

Time is simulated by the rows' own timestamps (fetched, first seen, created) and the cut-off
passed to ``purge``; nothing waits.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from bot.domain.models import ChannelRef, MessageRef, NewsItem, Story
from bot.domain.records import FeedSpec, IngestBatch, OutboxEntry, SubscriptionSpec
from bot.store import SqlStore
from tests.support import factories

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
RETENTION = timedelta(days=30)
SLACK = ChannelRef("slack", "C0RETAIN01")


def item(feed: str, n: int, at: datetime) -> NewsItem:
    """Entry ``n`` of ``feed`` (its own site and outlet), first fetched ``at``."""
    return factories.item(
        feed, n, at=at, source=feed, title=f"{feed} story {n}", link=f"https://{feed}.example/{n}"
    )


def story_of(it: NewsItem, *, tickers: tuple[str, ...] = ()) -> Story:
    """The story ``it`` starts, with a second outlet (so a purge has sources to delete)."""
    return factories.story(
        it.title,
        sid=f"s-{it.feed_id}-{it.id.rsplit('/', 1)[1]}",
        at=it.fetched_at,
        published_at=it.published_at,
        source=it.source,
        link=it.link,
        also=("Other",),
        tickers=tickers,
    )


async def poll(store: SqlStore, served: list[NewsItem]) -> list[NewsItem]:
    """What the ingestor does with one response: dedup, then store what is new."""
    new = await store.unseen_items(served)
    if new:
        await store.save_ingest(
            IngestBatch(items=[(i, story_of(i).id) for i in new], new_stories=[story_of(i) for i in new])
        )
    return new


def at(it: NewsItem, when: datetime) -> NewsItem:
    """The same entry as a later response carries it (fetched again at ``when``)."""
    return dataclasses.replace(it, fetched_at=when)


async def test_old_rows_go_recent_and_unsent_stay(store: SqlStore) -> None:
    await store.sync_feeds([FeedSpec(id="wire", name="Wire", url="https://wire.example/rss")])
    sub = await store.add_subscription(SubscriptionSpec("chips", SLACK))
    old = [item("wire", n, T0) for n in range(5)]
    new = [item("wire", 100 + n, T0 + 40 * DAY) for n in range(3)]
    await poll(store, old)
    await poll(store, new)  # the feed moved on: the old ones are no longer served
    stories = {s.id: s for s in map(story_of, old + new)}

    def alert(key: str, it: NewsItem) -> OutboxEntry:
        return factories.entry(
            key,
            sub.id,
            at=it.fetched_at,
            channel=SLACK,
            watchlist="chips",
            title=it.title,
            story_id=story_of(it).id,
        )

    await store.enqueue([alert("sent-old", old[0]), alert("pending-old", old[1]), alert("sent-new", new[0])])
    for e in await store.claim_due(now=T0 + 41 * DAY, limit=10, lease=timedelta(minutes=1), worker="w"):
        if e.key != "pending-old":
            await store.mark_sent(e.id, ref=MessageRef(SLACK, e.key), now=T0 + 41 * DAY)  # type: ignore[arg-type]
        else:
            await store.mark_retry(e.id, due_at=T0 + 50 * DAY, error="platform down")  # type: ignore[arg-type]
    await store.add_marker("briefing:2026-01-01", now=T0)
    await store.add_marker("briefing:2026-02-10", now=T0 + 40 * DAY)

    report = await store.purge(before=T0 + 41 * DAY - RETENTION, batch=2)
    assert (report.items, report.outbox, report.markers) == (5, 1, 1)
    assert report.stories == 4  # old[1]'s story stays: an unsent alert still needs it
    assert report.story_sources == 8 and report.batches > 5  # batches of 2
    assert await store.get_story(story_of(old[1]).id) is not None
    assert await store.get_story(story_of(old[0]).id) is None
    for s in map(story_of, new):
        assert await store.get_story(s.id) is not None
    assert await store.existing_keys(["sent-old", "pending-old", "sent-new"]) == {"pending-old", "sent-new"}
    assert not await store.has_marker("briefing:2026-01-01") and await store.has_marker("briefing:2026-02-10")
    assert len(stories) == 8

    again = await store.purge(before=T0 + 41 * DAY - RETENTION)
    assert again.rows == 0  # idempotent


async def test_an_item_the_feed_still_serves_is_never_new_again(store: SqlStore) -> None:
    """An undated, evergreen entry served for 90 days: purged rows must not make it new again."""
    await store.sync_feeds([FeedSpec(id="ir", name="Investor relations", url="https://ir.example/rss")])
    evergreen = item("ir", 1, T0)
    assert await poll(store, [evergreen]) == [evergreen]
    for day in range(1, 91):
        now = T0 + day * DAY
        served = [at(evergreen, now), item("ir", 1000 + day, now)]  # the evergreen and one new entry a day
        new = await poll(store, served)
        assert [i.id for i in new] == [served[1].id], day
        await store.purge(before=now - RETENTION)
    rows = await store.table_rows(["items"])
    assert 30 <= rows["items"] <= 33  # the last 30 days and the evergreen, not 91


async def test_a_feed_that_answers_304_for_weeks_keeps_its_latest_response(store: SqlStore) -> None:
    """No 200 for 40 days (conditional GETs answered 304): its last response's items stay."""
    await store.sync_feeds([FeedSpec(id="quiet", name="Quiet", url="https://quiet.example/rss")])
    latest = [item("quiet", n, T0) for n in range(20)]
    await poll(store, latest)
    await store.purge(before=T0 + 40 * DAY - RETENTION)
    assert (await store.table_rows(["items"]))["items"] == 20
    # it changes at last; the entries it dropped age out, the ones it still serves stay
    fresh = [item("quiet", 100, T0 + 41 * DAY)]
    await poll(store, [*fresh, *(at(i, T0 + 41 * DAY) for i in latest[:5])])
    await store.purge(before=T0 + 43 * DAY - RETENTION)
    assert (await store.table_rows(["items"]))["items"] == 6
    assert await store.unseen_items([at(i, T0 + 43 * DAY) for i in [*fresh, *latest[:5]]]) == []


async def test_items_of_a_feed_no_longer_configured_go_by_age(store: SqlStore) -> None:
    await store.sync_feeds([FeedSpec(id="gone", name="Gone", url="https://gone.example/rss")])
    await poll(store, [item("gone", n, T0) for n in range(4)])
    await store.sync_feeds([])  # removed from the config: inactive
    state = await store.get_feed("gone")
    assert state is not None
    await store.save_feed_state(dataclasses.replace(state, last_polled_at=T0 + 30 * DAY))
    report = await store.purge(before=T0 + 31 * DAY - RETENTION)
    assert report.items == 4 and report.stories == 4 and report.feeds == 0  # polled within the period
    await store.save_feed_state(dataclasses.replace(state, last_polled_at=T0))
    assert (await store.purge(before=T0 + 31 * DAY - RETENTION)).feeds == 1
    assert await store.get_feed("gone") is None


async def test_a_deadline_leaves_the_rest_for_the_next_run(sqlite_store: SqlStore) -> None:
    await sqlite_store.sync_feeds([])
    await poll(sqlite_store, [item("bulk", n, T0) for n in range(50)])
    first = await sqlite_store.purge(before=T0 + DAY, batch=5, deadline=0.0)
    assert not first.complete and first.rows <= 5
    rest = await sqlite_store.purge(before=T0 + DAY, batch=5)
    assert rest.complete and first.items + rest.items == 50

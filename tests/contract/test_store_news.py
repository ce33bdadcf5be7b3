"""Store contract for what ingestion adds: bulk feed-state saves, re-enabling from the config,
and dedup keys scoped to a feed (the same article in another feed is a new item there, which
clustering then records as another source of the story). Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from bot.domain.records import FeedSpec, IngestBatch
from bot.store import SqlStore
from tests.support.factories import T0, item


async def test_feed_states_are_saved_in_bulk(store: SqlStore) -> None:
    specs = [FeedSpec(id=f"f{i}", name=f"Feed {i}", url=f"https://x.test/{i}") for i in range(300)]
    await store.sync_feeds(specs)
    states = await store.list_feeds()
    updated = [
        replace(s, etag=f'"{s.id}"', last_status="304", next_poll_at=T0 + timedelta(minutes=2), items_seen=7)
        for s in states
    ]
    await store.save_feed_states(updated)
    again = {s.id: s for s in await store.list_feeds()}
    assert len(again) == 300
    assert all(s.etag == f'"{s.id}"' and s.items_seen == 7 for s in again.values())
    assert again["f5"].next_poll_at == T0 + timedelta(minutes=2)


async def test_turning_a_feed_back_on_in_the_config_clears_its_automatic_disable(store: SqlStore) -> None:
    spec = FeedSpec(id="f", name="Feed", url="https://x.test/feed")
    await store.sync_feeds([spec])
    state = await store.get_feed("f")
    assert state is not None
    await store.save_feed_state(
        replace(state, consecutive_failures=10, disabled_reason="10 consecutive failures")
    )
    await store.sync_feeds([spec])  # unchanged config: still disabled
    assert (await store.get_feed("f")).disabled_reason == "10 consecutive failures"  # type: ignore[union-attr]
    await store.sync_feeds([replace(spec, enabled=False)])
    await store.sync_feeds([spec])
    fresh = await store.get_feed("f")
    assert fresh is not None and fresh.disabled_reason is None and fresh.consecutive_failures == 0


async def test_dedup_by_link_and_title_is_per_feed(store: SqlStore) -> None:
    a = item("a", guid="g1", link="https://news.test/1", title="Fed holds rates", source="a")
    await store.save_ingest(IngestBatch(items=[(a, "s1")]))
    same_feed_new_guid = item("a", guid="g2", link="https://news.test/1", title="Fed holds rates", source="a")
    other_feed = item("b", guid="g1", link="https://news.test/1", title="Fed holds rates", source="b")
    assert await store.unseen_items([same_feed_new_guid, other_feed]) == [other_feed]


async def test_a_save_after_a_lookup_stores_the_same_keys_as_a_save_alone(store: SqlStore) -> None:
    """save_ingest reuses the keys the lookup computed for the same item objects; items the
    lookup never saw (or left out as seen) are keyed afresh, and the dedup is the same either way."""
    looked_up = [item("a", guid=f"g{i}", link=f"https://news.test/{i}", title=f"Story {i}") for i in range(3)]
    fresh = await store.unseen_items(looked_up)
    assert fresh == looked_up
    other = item("b", guid="g9", link="https://news.test/9", title="Story 9")
    await store.save_ingest(IngestBatch(items=[(looked_up[0], "s0"), (looked_up[1], "s1"), (other, "s9")]))
    # stored under their real keys: found by identity (a rewritten link keeps the guid) and by
    # link + title (a rewritten guid keeps link and title)
    again = [
        item("a", guid="g0", link="https://news.test/0-moved", title="Story 0 moved"),
        item("a", guid="g1-new", link="https://news.test/1", title="Story 1"),
        item("b", guid="g9", link="https://news.test/9", title="Story 9"),
        looked_up[2],
    ]
    assert await store.unseen_items(again) == [looked_up[2]]

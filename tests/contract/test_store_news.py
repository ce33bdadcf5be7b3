"""Store contract for what ingestion adds: bulk feed-state saves, re-enabling from the config,
and dedup keys scoped to a feed (the same article in another feed is a new item there, which
clustering then records as another source of the story). Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa

from bot.domain.models import StorySource
from bot.domain.records import FeedSpec, Handoff, IngestBatch
from bot.store import SqlStore
from bot.store import schema as t
from bot.store.news import content_key, item_key
from tests.support.factories import T0, item, story


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


async def _raw_rows(store: SqlStore) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the ingest's tables as the driver returns it (no type processing)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    async with store.engine.connect() as conn:
        for table in (t.stories, t.story_tickers, t.story_sources, t.items, t.handoffs):
            cols = ", ".join(f'"{c.name}"' for c in table.columns)
            rows = (await conn.exec_driver_sql(f"SELECT {cols} FROM {table.name}")).all()
            out[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return out


async def test_save_ingest_stores_what_sqlalchemys_own_inserts_store(store: SqlStore) -> None:
    """save_ingest binds plain tuples to precompiled inserts: the rows it stores are the ones
    SQLAlchemy's Core insert of the same values stores (timestamps in any zone, JSON, NULLs,
    conflicts ignored, a hand-off renewed)."""
    paris = timezone(timedelta(hours=1))
    at = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=paris)
    s1 = story("Acme beats estimates", sid="s1", at=T0, tickers=("ACME", "ACME", "BOLT"), also=["AP"])
    s2 = story("Fed holds rates", sid="s2", at=at, summary="Rates unchanged.", sourced=False)
    items = [
        (item("a", 1, at=T0, guid="g1"), "s1"),
        (item("b", 2, at=at, guid=None, link="https://news.test/2"), "s2"),
        (item("b", 3, at=datetime(999, 1, 2, tzinfo=UTC), title="Old"), "s1"),
    ]
    batch = IngestBatch(
        items=items,
        new_stories=[s1, s2],
        new_sources=[
            ("s1", StorySource("Bloomberg", "https://b.test/1", at)),
            ("s1", StorySource("AP", "", T0)),
        ],
        handoffs=[Handoff("s1", "story", T0, T0), Handoff("s2", "sources", at, None)],
    )
    await store.save_ingest(batch)
    await store.save_ingest(replace(batch, handoffs=[Handoff("s1", "story", at, at)]))  # renewed
    fast = await _raw_rows(store)

    async with store.engine.begin() as conn:
        for table in (t.stories, t.story_tickers, t.story_sources, t.items, t.handoffs):
            await conn.execute(sa.delete(table))
    for handoffs in (batch.handoffs, [Handoff("s1", "story", at, at)]):
        async with store.engine.begin() as conn:
            stories = [
                {c: getattr(s, c) for c in ("id", "title", "link", "canonical_url", "summary", "source")}
                | {
                    "published_at": s.published_at,
                    "first_seen_at": s.first_seen_at,
                    "tickers": list(s.tickers),
                }
                for s in batch.new_stories
            ]
            await conn.execute(store.insert_ignore(t.stories, ["id"]), stories)
            await conn.execute(
                store.insert_ignore(t.story_tickers, ["story_id", "symbol"]),
                [
                    {"story_id": s.id, "symbol": sym, "published_at": s.published_at}
                    for s in batch.new_stories
                    for sym in dict.fromkeys(s.tickers)
                ],
            )
            sources = [
                {"story_id": s.id, "source": src.source, "link": src.link, "seen_at": src.seen_at}
                for s in batch.new_stories
                for src in (s.sources or (StorySource(s.source, s.link, s.first_seen_at),))
            ] + [
                {"story_id": sid, "source": src.source, "link": src.link, "seen_at": src.seen_at}
                for sid, src in batch.new_sources
            ]
            await conn.execute(store.insert_ignore(t.story_sources, ["story_id", "source"]), sources)
            await conn.execute(
                store.insert_ignore(t.items, ["key"]),
                [
                    {
                        "key": item_key(i),
                        "feed_id": i.feed_id,
                        "item_id": i.id,
                        "guid": i.guid,
                        "link": i.link,
                        "canonical_url": i.canonical_url,
                        "title": i.title,
                        "content_key": content_key(i),
                        "story_id": sid,
                        "published_at": i.published_at,
                        "fetched_at": i.fetched_at,
                    }
                    for i, sid in batch.items
                ],
            )
            await conn.execute(
                store.upsert(t.handoffs, ["story_id", "kind"], ["due_at", "created_at"]),
                [
                    {
                        "story_id": h.story_id,
                        "kind": h.kind,
                        "due_at": h.due_at,
                        "created_at": h.created_at or h.due_at,
                    }
                    for h in handoffs
                ],
            )
    core = await _raw_rows(store)
    assert fast == core
    assert len(fast["story_tickers"]) == 2 and len(fast["items"]) == 3 and len(fast["handoffs"]) == 2

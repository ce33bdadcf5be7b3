"""Chat feeds in the store (SQLite and PostgreSQL), and how the running bot picks them up."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app import Runtime
from bot.config import load_env, parse_config
from bot.domain.cluster import CATALOG_VERSION
from bot.domain.models import StorySource
from bot.domain.records import ChatFeed, IngestBatch
from bot.domain.timeutil import ManualClock
from bot.store import SqlStore
from tests.support.factories import carried, story
from tests.unit.delivery.support import DISCORD_A, SLACK_A, make_world

T0 = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


def chat_feed(scope: str, name: str, url: str, *, interval: int = 300) -> ChatFeed:
    return ChatFeed(
        scope=scope,
        name=name,
        url=url,
        feed_id=ChatFeed.id_for(scope, url),
        interval=interval,
        added_by="slack:U1",
        added_at=T0,
    )


async def test_add_list_remove_and_limits(store: SqlStore) -> None:
    v0 = await store.version(CATALOG_VERSION)
    wire = chat_feed("slack:T1", "Wire", "https://wire.example/rss")
    assert await store.add_chat_feed(wire, limit=2) == "added"
    assert await store.version(CATALOG_VERSION) == v0 + 1  # replicas reload their catalog
    assert await store.add_chat_feed(chat_feed("slack:T1", "WIRE", "https://x.example/rss"), limit=2) == (
        "name-taken"
    )
    assert await store.add_chat_feed(chat_feed("slack:T1", "Other", "https://wire.example/rss"), limit=2) == (
        "url-taken"
    )
    # the same URL in another workspace is that workspace's own feed
    theirs = chat_feed("discord:99", "Wire", "https://wire.example/rss")
    assert await store.add_chat_feed(theirs, limit=2) == "added" and theirs.feed_id != wire.feed_id
    assert (
        await store.add_chat_feed(chat_feed("slack:T1", "Two", "https://two.example/rss"), limit=2) == "added"
    )
    assert (
        await store.add_chat_feed(chat_feed("slack:T1", "Three", "https://3.example/rss"), limit=2) == "limit"
    )
    assert [f.name for f in await store.list_chat_feeds("slack:T1")] == ["Two", "Wire"]
    listed = await store.list_chat_feeds()
    assert len(listed) == 3 and listed[0].scope == "discord:99"
    got = (await store.list_chat_feeds("slack:T1"))[1]
    assert got == wire and got.added_at.tzinfo is not None

    v1 = await store.version(CATALOG_VERSION)
    removed = await store.remove_chat_feed("slack:T1", "wire")
    assert removed is not None and removed.url == "https://wire.example/rss"
    assert await store.remove_chat_feed("slack:T1", "wire") is None
    assert await store.version(CATALOG_VERSION) == v1 + 1
    assert [f.name for f in await store.list_chat_feeds("slack:T1")] == ["Two"]


async def test_racing_adds_of_one_name_store_one(store: SqlStore) -> None:
    a = chat_feed("slack:T1", "Wire", "https://a.example/rss")
    b = chat_feed("slack:T1", "wire", "https://b.example/rss")
    results = await asyncio.gather(store.add_chat_feed(a, limit=50), store.add_chat_feed(b, limit=50))
    assert sorted(results) == ["added", "name-taken"]
    assert len(await store.list_chat_feeds("slack:T1")) == 1


async def test_racing_adds_never_pass_the_limit(store: SqlStore) -> None:
    feeds = [chat_feed("slack:T2", f"Feed {n}", f"https://f{n}.example/rss") for n in range(6)]
    results = await asyncio.gather(*(store.add_chat_feed(f, limit=2) for f in feeds))
    assert sorted(results) == ["added", "added", "limit", "limit", "limit", "limit"]
    assert len(await store.list_chat_feeds("slack:T2")) == 2


CONFIG = """
feeds: []
market: {quote_timeout: 2}
web: {enabled: false}
"""


async def test_the_poller_polls_chat_feeds_through_the_guard_and_drops_removed_ones(
    database_url: str, tmp_path: Path
) -> None:
    env = load_env(
        {
            "MARKETBOT_DATABASE_URL": database_url,
            "MARKETBOT_CONFIG": str(tmp_path / "bot.yaml"),
            "MARKETBOT_YAHOO_URL": "http://127.0.0.1:9",
        },
        dotenv=None,
    )
    cfg = parse_config(CONFIG)
    async with AsyncExitStack() as stack:
        rt = await stack.enter_async_context(Runtime.open(env, cfg, connect_chat=False))
        assert not rt.poller.fetcher.allow_networks  # default: nothing private
        feed = chat_feed("slack:T1", "Wire", "http://127.0.0.1:9/rss.xml")
        assert await rt.store.add_chat_feed(feed, limit=50) == "added"
        assert await rt.follow_catalog()  # the same version the other replicas follow
        assert [f.name for f in rt.catalog.chat_feeds("slack:T1")] == ["Wire"]
        assert rt.catalog.chat_feeds("discord:1") == []
        await rt.poller.refresh()
        src = rt.poller.sources[feed.feed_id]
        assert src.spec.origin == "chat" and not src.spec.trusted and src.spec.interval == 300
        report = await rt.poller.run_once()
        (polled,) = [f for f in report.feeds if f.feed_id == feed.feed_id]
        assert (polled.error or "").startswith("blocked: 127.0.0.1 is not a public address")
        stored = await rt.store.get_feed(feed.feed_id)
        assert stored is not None and stored.spec.origin == "chat" and not stored.spec.trusted

        await rt.store.remove_chat_feed("slack:T1", "Wire")
        assert await rt.follow_catalog()
        await rt.poller.refresh()
        assert feed.feed_id not in rt.poller.sources
        assert feed.feed_id not in {s.id for s in await rt.store.list_feeds()}


@pytest.mark.postgres
async def test_a_feed_added_on_one_replica_is_polled_by_the_other(postgres: object, tmp_path: Path) -> None:
    url = await postgres.new_database()  # type: ignore[attr-defined]
    env = load_env(
        {
            "MARKETBOT_DATABASE_URL": url,
            "MARKETBOT_CONFIG": str(tmp_path / "bot.yaml"),
            "MARKETBOT_YAHOO_URL": "http://127.0.0.1:9",
        },
        dotenv=None,
    )
    cfg = parse_config(CONFIG)
    async with AsyncExitStack() as stack:
        one = await stack.enter_async_context(Runtime.open(env, cfg, connect_chat=False))
        two = await stack.enter_async_context(Runtime.open(env, cfg, connect_chat=False))
        feed = chat_feed("discord:99", "Intranet", "https://intranet.example/rss")
        assert await one.store.add_chat_feed(feed, limit=50) == "added"
        assert await two.follow_catalog()
        await two.poller.refresh()
        assert feed.feed_id in two.poller.sources


async def test_stories_only_chat_feeds_carried_reach_only_their_workspace(
    sqlite_store: SqlStore, clock: ManualClock
) -> None:
    """A workspace's /feed serves that workspace; a story a config feed also carried is everyone's."""
    w = await make_world(sqlite_store, clock)
    await w.subscribe("chips", SLACK_A)  # workspace slack:T1
    await w.subscribe("chips", DISCORD_A)  # guild discord:G1
    mine = chat_feed("slack:T1", "Desk wire", "https://desk.example/rss")
    assert await sqlite_store.add_chat_feed(mine, limit=50) == "added"
    await w.catalog.reload()

    now = w.clock.now()

    only_chat = story(
        "US tightens export controls on AI chips; Nvidia and AMD fall", at=now - timedelta(minutes=5)
    )
    both = story("Nvidia and AMD shares rise on chip demand", at=now - timedelta(minutes=4))
    await sqlite_store.save_ingest(
        IngestBatch(
            items=[
                carried(only_chat, mine.feed_id, 1, at=now),
                carried(both, mine.feed_id, 2, at=now),
                carried(both, "config:abc", 3, at=now),
            ],
            new_stories=[only_chat, both],
        )
    )
    assert await w.pipeline.process([only_chat, both]) == 3
    await w.deliver()
    assert [a.title for a in w.chat["slack"].alerts(SLACK_A.channel)] == [only_chat.title, both.title]
    assert [a.title for a in w.chat["discord"].alerts(DISCORD_A.channel)] == [both.title]
    assert w.pipeline.stats["filtered_workspace"] == 1

    # a config feed now carries the story the chat feed found first: it is everyone's now, under
    # the shared outlet's name and link (nothing of the chat feed shows elsewhere)
    shared = StorySource("Shared Wire", "https://shared.example/chips", now)
    joined, _ = carried(only_chat, "config:abc", 4, at=now)
    await sqlite_store.save_ingest(
        IngestBatch(items=[(joined, only_chat.id)], new_sources=[(only_chat.id, shared)])
    )
    await w.pipeline.process_new_sources([(only_chat.id, shared)])
    await w.deliver()
    got = [(a.kind, a.title) for a in w.chat["discord"].alerts(DISCORD_A.channel)]
    assert got == [("story", both.title), ("story", only_chat.title)]  # no "also reported by" itself
    late = w.chat["discord"].alerts(DISCORD_A.channel)[1]
    assert (late.source, late.link) == ("Shared Wire", "https://shared.example/chips")
    # Slack had it already: no second alert there, "also reported by Shared Wire" instead
    got = [(a.kind, a.title) for a in w.chat["slack"].alerts(SLACK_A.channel)]
    assert got == [("story", only_chat.title), ("story", both.title), ("followup", only_chat.title)]
    assert [e.source for e in w.chat["slack"].alerts(SLACK_A.channel)[2].entries] == ["Shared Wire"]


async def test_story_feeds(store: SqlStore) -> None:
    a, b = story("One", at=T0, sid="s-one"), story("Two", at=T0, sid="s-two")

    batch = IngestBatch(
        items=[carried(a, "chat:1", 1), carried(a, "config:2", 2), carried(b, "chat:1", 3)],
        new_stories=[a, b],
    )
    await store.save_ingest(batch)
    assert await store.story_feeds(["s-one", "s-two", "s-none"]) == {
        "s-one": {"chat:1", "config:2"},
        "s-two": {"chat:1"},
    }
    assert await store.story_feeds([]) == {}


async def test_a_chat_feed_in_an_opened_network_is_polled_and_ingested(
    sqlite_store: SqlStore, tmp_path: Path
) -> None:
    from tests.fakes.feed_host import FeedHost, entry, rss

    db = f"sqlite+aiosqlite:///{tmp_path / 'rt.db'}"
    env = load_env(
        {
            "MARKETBOT_DATABASE_URL": db,
            "MARKETBOT_CONFIG": str(tmp_path / "bot.yaml"),
            "MARKETBOT_YAHOO_URL": "http://127.0.0.1:9",
        },
        dotenv=None,
    )
    cfg = parse_config(CONFIG + "chat_feeds: {allow_networks: [127.0.0.2/32]}\n")
    async with FeedHost(["127.0.0.2"]) as host, AsyncExitStack() as stack:
        now = datetime.now(UTC)
        url = host.serve(
            "/wire.xml", rss([entry("Intranet memo on chips", "https://intra.test/1", published=now)])
        )
        rt = await stack.enter_async_context(Runtime.open(env, cfg, connect_chat=False))
        feed = chat_feed("slack:T1", "Intranet", url)
        assert await rt.store.add_chat_feed(feed, limit=50) == "added"
        await rt.catalog.reload()
        await rt.poller.refresh()
        report = await rt.poller.run_once()
        (polled,) = [f for f in report.feeds if f.feed_id == feed.feed_id]
        assert polled.status == "200" and polled.new_items == 1, polled
        state = await rt.store.get_feed(feed.feed_id)
        assert state is not None and state.items_seen == 1 and state.last_success_at is not None

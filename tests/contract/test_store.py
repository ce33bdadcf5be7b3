"""The Store contract, run against SQLite and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.domain.codec import alert_from_dict
from bot.domain.models import (
    ChannelRef,
    MessageRef,
    QuietHours,
    StorySource,
    SubscriptionOptions,
    TradingSession,
    Watchlist,
)
from bot.domain.records import FeedSpec, IngestBatch, OutboxEntry, SubscriptionSpec
from bot.store import SqlStore, open_store
from bot.store.schema import outbox
from tests.support.factories import SLACK, T0, alert, item, story

DISCORD = ChannelRef("discord", "112233445566778899", "999")


async def test_migrations_match_schema(store: SqlStore) -> None:
    """The migration chain creates exactly the tables and columns the code declares."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from bot.store.schema import metadata

    def diff(conn: sa.Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(conn), metadata))

    async with store.engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_feeds_sync_and_state(store: SqlStore) -> None:
    a = FeedSpec(id="a", name="A", url="https://a.example/rss")
    b = FeedSpec(id="b", name="B", url="https://b.example/rss", interval=300)
    await store.sync_feeds([a, b])
    state = await store.get_feed("a")
    assert state is not None and state.consecutive_failures == 0
    from dataclasses import replace

    await store.save_feed_state(replace(state, etag='"v1"', consecutive_failures=3, last_status="500"))
    await store.sync_feeds([a])  # b dropped from config, a's state kept
    feeds = await store.list_feeds()
    assert [f.id for f in feeds] == ["a"]
    assert feeds[0].etag == '"v1"' and feeds[0].consecutive_failures == 3
    await store.sync_feeds([a, b])
    assert {f.id for f in await store.list_feeds()} == {"a", "b"}
    assert (await store.get_feed("b")).spec.interval == 300  # type: ignore[union-attr]


async def test_dedup_by_identity_and_by_link_and_title(store: SqlStore) -> None:
    first = [item("f", 1), item("f", 2)]
    assert await store.unseen_items(first) == first
    s1, s2 = (
        story(sid="s1", summary="Summary.", sourced=False),
        story(sid="s2", summary="Summary.", sourced=False),
    )
    await store.save_ingest(IngestBatch(items=[(first[0], "s1"), (first[1], "s2")], new_stories=[s1, s2]))
    # same guid again, and a rewritten guid with the same link and title: both seen
    again = item("f", 1)
    regid = item("f", 2, guid="urn:new-guid")
    fresh = item("f", 3)
    assert await store.unseen_items([again, regid, fresh]) == [fresh]
    # duplicates inside one batch count once
    assert await store.unseen_items([item("g", 9), item("g", 9)]) == [item("g", 9)]


async def test_stories_sources_and_ticker_queries(store: SqlStore) -> None:
    old = story(sid="old", summary="Summary.", sourced=False, tickers=("AMZN",), at=T0 - timedelta(hours=3))
    new = story(sid="new", summary="Summary.", sourced=False, tickers=("AMZN", "MSFT"), at=T0)
    other = story(
        sid="other", summary="Summary.", sourced=False, tickers=("NVDA",), at=T0 - timedelta(hours=1)
    )
    await store.save_ingest(IngestBatch(new_stories=[old, new, other]))
    await store.save_ingest(
        IngestBatch(new_sources=[("new", StorySource("CNBC", "https://cnbc.example/1", T0))])
    )
    got = await store.stories(ticker="AMZN")
    assert [s.id for s in got] == ["new", "old"]
    assert [src.source for src in got[0].sources] == ["Reuters", "CNBC"]
    assert [s.id for s in await store.stories(limit=1)] == ["new"]
    assert [s.id for s in await store.recent_stories(T0 - timedelta(hours=2))] == ["other", "new"]
    await store.set_story_tickers("other", ["NVDA", "AMD"])
    assert [s.id for s in await store.stories(ticker="amd")] == ["other"]
    fetched = await store.get_story("other")
    assert fetched is not None and fetched.tickers == ("NVDA", "AMD")
    assert fetched.published_at == T0 - timedelta(hours=1) and fetched.published_at.tzinfo is not None


async def test_watchlists_crud_is_scoped_and_case_insensitive(store: SqlStore) -> None:
    wl = Watchlist(
        name="Chips", scope="slack:T1", tickers=("NVDA",), keywords=("export control",), created_by="U1"
    )
    await store.save_watchlist(wl)
    assert await store.get_watchlist("slack:T1", "chips") == wl
    assert await store.get_watchlist("slack:T2", "chips") is None
    await store.save_watchlist(
        Watchlist(name="Chips", scope="slack:T1", tickers=("NVDA", "AMD"), created_by="U1")
    )
    got = await store.get_watchlist("slack:T1", "CHIPS")
    assert got is not None and got.tickers == ("NVDA", "AMD") and got.keywords == ()
    assert [w.name for w in await store.list_watchlists("slack:T1")] == ["Chips"]
    await store.add_subscription(SubscriptionSpec("Chips", SLACK, scope="slack:T1"))
    assert await store.delete_watchlist("slack:T1", "chips") is True
    assert await store.list_subscriptions(channel=SLACK) == []
    assert await store.delete_watchlist("slack:T1", "chips") is False


async def test_subscriptions_config_sync_and_chat(store: SqlStore) -> None:
    opts = SubscriptionOptions(
        quiet_hours=QuietHours(*map(lambda s: datetime.strptime(s, "%H:%M").time(), ("22:00", "06:00"))),
        sessions=(TradingSession.PRE,),
        max_per_hour=5,
        briefing="premarket",
    )
    console = ChannelRef.parse("console")
    await store.sync_config_subscriptions([SubscriptionSpec("cloud-china", console, opts)])
    (sub,) = await store.list_subscriptions()
    assert sub.origin == "config" and sub.options == opts and sub.state == "active"
    await store.mark_subscription_broken(sub.id, "channel_not_found: the channel was deleted")
    await store.sync_config_subscriptions([SubscriptionSpec("cloud-china", console, opts)])
    (sub,) = await store.list_subscriptions()
    assert sub.state == "broken"  # unchanged config keeps the state across restarts
    chat = await store.add_subscription(
        SubscriptionSpec("chips", DISCORD, scope="discord:999"), created_by="42"
    )
    again = await store.add_subscription(
        SubscriptionSpec("chips", DISCORD, scope="discord:999"), created_by="42"
    )
    assert chat.id == again.id and chat.origin == "chat"
    await store.sync_config_subscriptions([])  # config emptied: chat subscription stays
    assert [s.watchlist for s in await store.list_subscriptions()] == ["chips"]
    mute = SubscriptionOptions(mute_until=T0 + timedelta(hours=2))
    await store.update_subscription_options(chat.id, mute)
    assert (await store.get_subscription(chat.id)).options.mute_until == T0 + timedelta(hours=2)  # type: ignore[union-attr]
    assert await store.remove_subscription(channel=DISCORD, scope="discord:999", watchlist="CHIPS") is True
    assert await store.list_subscriptions() == []


async def test_outbox_enqueue_batch_skips_duplicates_inside_it_and_already_queued(store: SqlStore) -> None:
    """A batch is queued in order; a key repeated in it or queued before is ignored, first wins."""

    def entry(key: str, summary: str) -> OutboxEntry:
        return OutboxEntry(
            key=key,
            alert=alert(key, channel=SLACK, story_id=key, summary=summary, terms=("cloud",)),
            subscription_id=None,
            due_at=T0,
        )

    assert await store.enqueue([entry("old", "first")]) == 1
    batch = [entry("a", "first"), entry("old", "again"), entry("b", "first"), entry("a", "again")]
    batch += [entry(f"n{i:03d}", "first") for i in range(250)]  # more than one multi-row statement
    batch += [entry("n007", "again"), entry("b", "again")]
    assert await store.enqueue(batch) == 252
    assert await store.enqueue(batch) == 0
    async with store.engine.connect() as conn:
        rows = (await conn.execute(sa.select(outbox).order_by(outbox.c.id))).all()
    assert [r.key for r in rows] == ["old", "a", "b", *(f"n{i:03d}" for i in range(250))]
    assert {alert_from_dict(r.payload).summary for r in rows} == {"first"}


async def test_outbox_idempotent_ordered_per_channel_with_leases(store: SqlStore) -> None:
    sub = await store.add_subscription(SubscriptionSpec("w", SLACK, scope="slack:T1"))
    entries = [
        OutboxEntry(
            key=f"k{i}",
            alert=alert(f"k{i}", channel=SLACK, story_id=f"s{i}", summary="s", terms=("cloud",)),
            subscription_id=sub.id,
            due_at=T0,
        )
        for i in range(3)
    ]
    other = OutboxEntry(
        key="d0",
        alert=alert("d0", channel=DISCORD, summary="s", terms=("cloud",)),
        subscription_id=None,
        due_at=T0,
    )
    assert await store.enqueue([*entries, other]) == 4
    assert await store.enqueue(entries) == 0  # same keys never queue twice

    claimed = await store.claim_due(now=T0, limit=10, lease=timedelta(seconds=60), worker="w1")
    assert sorted(e.key for e in claimed) == ["d0", "k0"]  # one per channel: its oldest
    assert all(e.attempts == 1 and e.status == "claimed" for e in claimed)
    assert await store.claim_due(now=T0, limit=10, lease=timedelta(seconds=60), worker="w2") == []

    d0 = next(e for e in claimed if e.key == "d0")
    await store.mark_sent(d0.id, ref=MessageRef(DISCORD, "1"), now=T0)  # type: ignore[arg-type]
    k0 = next(e for e in claimed if e.key == "k0")
    await store.mark_retry(k0.id, due_at=T0 + timedelta(seconds=30), error="ratelimited")  # type: ignore[arg-type]
    # k1 must not overtake k0 while k0 waits for its retry
    assert [
        e.key
        for e in await store.claim_due(
            now=T0 + timedelta(seconds=10), limit=10, lease=timedelta(seconds=60), worker="w1"
        )
    ] == []
    again = await store.claim_due(
        now=T0 + timedelta(seconds=31), limit=10, lease=timedelta(seconds=60), worker="w1"
    )
    assert [e.key for e in again] == ["k0"] and again[0].attempts == 2
    # the worker dies: after the lease, the claim is due again
    later = T0 + timedelta(seconds=200)
    reclaimed = await store.claim_due(now=later, limit=10, lease=timedelta(seconds=60), worker="w2")
    assert [e.key for e in reclaimed] == ["k0"] and reclaimed[0].claimed_by == "w2"
    await store.mark_sent(reclaimed[0].id, ref=MessageRef(SLACK, "1700000000.000100"), now=later)  # type: ignore[arg-type]
    nxt = await store.claim_due(now=later, limit=10, lease=timedelta(seconds=60), worker="w2")
    assert [e.key for e in nxt] == ["k1"]
    assert nxt[0].alert == entries[1].alert  # payload round-trips
    assert await store.sent_message(story_id="s0", subscription_id=sub.id) == MessageRef(
        SLACK, "1700000000.000100"
    )
    assert await store.sent_message(story_id="s1", subscription_id=sub.id) is None
    await store.mark_failed(nxt[0].id, error="channel_not_found")  # type: ignore[arg-type]
    stats = (await store.channel_stats())[sub.id]
    assert (stats.queued, stats.failed, stats.last_delivery_at) == (1, 1, later)


async def test_held_entries_are_released_once(store: SqlStore) -> None:
    sub = await store.add_subscription(SubscriptionSpec("w", SLACK, scope="slack:T1"))
    held = [
        OutboxEntry(
            key=f"h{i}",
            alert=alert(f"h{i}", channel=SLACK, summary="s", terms=("cloud",)),
            subscription_id=sub.id,
            due_at=T0,
            status="held",
        )
        for i in range(2)
    ]
    await store.enqueue(held)
    assert await store.claim_due(now=T0, limit=10, lease=timedelta(seconds=60), worker="w") == []
    assert [e.key for e in await store.held_entries(sub.id)] == ["h0", "h1"]
    assert [e.key for e in await store.release_held(sub.id, now=T0)] == ["h0", "h1"]
    assert await store.release_held(sub.id, now=T0) == []
    assert await store.count_sent_since(sub.id, T0 - timedelta(hours=1)) == 0


async def test_markers_are_first_caller_wins(store: SqlStore) -> None:
    results = await asyncio.gather(*(store.add_marker("briefing:2026-11-25:1", now=T0) for _ in range(5)))
    assert sorted(results) == [False, False, False, False, True]
    assert await store.has_marker("briefing:2026-11-25:1")
    assert not await store.has_marker("briefing:2026-11-27:1")


@pytest.mark.postgres
async def test_two_engines_claim_concurrently_without_double_sends(postgres: object) -> None:
    """Two independent connections pools (as two processes have) never claim the same row."""
    url = await postgres.new_database()  # type: ignore[attr-defined]
    channels = [ChannelRef("slack", f"C{n:08d}X") for n in range(40)]
    async with open_store(url) as a, open_store(url) as b:
        await a.enqueue(
            [
                OutboxEntry(
                    key=f"k{n}",
                    alert=alert(f"k{n}", channel=ch, summary="s", terms=("cloud",)),
                    subscription_id=None,
                    due_at=T0,
                )
                for n, ch in enumerate(channels)
            ]
        )
        claimed: list[str] = []

        async def worker(s: SqlStore, name: str) -> None:
            while True:
                got = await s.claim_due(now=T0, limit=3, lease=timedelta(seconds=60), worker=name)
                if not got:
                    return
                for e in got:
                    claimed.append(e.key)
                    await s.mark_sent(e.id, ref=MessageRef(e.alert.channel, "m"), now=T0)  # type: ignore[arg-type]

        await asyncio.gather(worker(a, "a"), worker(b, "b"), worker(a, "a2"), worker(b, "b2"))
    assert sorted(claimed) == sorted(f"k{n}" for n in range(40))


async def test_unreachable_database_is_a_clear_error() -> None:
    from bot.domain.errors import StoreError

    with pytest.raises(
        StoreError, match=re.escape("cannot use the database postgresql+asyncpg://u:***@127.0.0.1:1/x")
    ):
        async with open_store("postgresql+asyncpg://u:secret@127.0.0.1:1/x"):
            pass
    with pytest.raises(StoreError, match="not a database URL"):
        async with open_store("nonsense"):
            pass


async def test_concurrent_opens_in_one_process_migrate_once(database_url: str) -> None:
    """Several stores opened at once on one database (a CLI beside the bot, tests) all work."""

    async def open_and_list() -> int:
        async with open_store(database_url) as s:
            return len(await s.list_feeds())

    assert await asyncio.gather(*(open_and_list() for _ in range(4))) == [0, 0, 0, 0]


def test_head_revision_read_from_the_files_is_alembics_head() -> None:
    """The head read without Alembic (start-up skips Alembic when the database is at it)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from bot.store.db import MIGRATIONS, head_revision

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert head_revision() == ScriptDirectory.from_config(cfg).get_current_head()


async def _behind_head(url: str) -> tuple[str, str]:
    """Take a database (fresh, or at the head: the PostgreSQL fixture's are migrated) to the
    revision before the head; (that revision, the head)."""
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from bot.store.db import MIGRATIONS, create_engine

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(cfg)
    head = script.get_current_head()
    assert head is not None
    previous = script.get_revision(head).down_revision
    assert isinstance(previous, str)

    def migrate(connection: sa.Connection) -> None:
        cfg.attributes["connection"] = connection
        if MigrationContext.configure(connection).get_current_revision() is None:
            command.upgrade(cfg, previous)
        else:
            command.downgrade(cfg, previous)

    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(migrate)
    finally:
        await engine.dispose()
    return previous, head


async def test_a_database_behind_head_is_upgraded_at_open(database_url: str) -> None:
    from bot.store.db import create_engine, current_revision

    previous, head = await _behind_head(database_url)
    engine = create_engine(database_url)
    try:
        assert await current_revision(engine) == (previous, head)
        async with open_store(database_url) as s:
            assert await s.list_feeds() == []
        assert await current_revision(engine) == (head, head)
    finally:
        await engine.dispose()


async def test_concurrent_opens_of_a_database_behind_head_migrate_once(database_url: str) -> None:
    from bot.store.db import create_engine, current_revision

    _previous, head = await _behind_head(database_url)

    async def open_and_list() -> int:
        async with open_store(database_url) as s:
            return len(await s.list_feeds())

    assert await asyncio.gather(*(open_and_list() for _ in range(4))) == [0, 0, 0, 0]
    engine = create_engine(database_url)
    try:
        assert await current_revision(engine) == (head, head)
    finally:
        await engine.dispose()


def test_a_database_at_head_opens_without_importing_alembic(tmp_path: Path) -> None:
    """Start-up on a migrated database reads the revision with one SELECT; Alembic (half a
    second of imports) is left out. A brand-new SQLite file gets its schema without Alembic too
    (``create_schema``: test_store_schema.py proves it is what the migrations make)."""
    import subprocess
    import sys

    url = f"sqlite+aiosqlite:///{tmp_path / 'marketbot.db'}"
    script = (
        "import asyncio, sys\n"
        "from bot.store import open_store\n"
        "async def main():\n"
        f"    async with open_store({url!r}) as s:\n"
        "        await s.list_feeds()\n"
        "asyncio.run(main())\n"
        "print('alembic' in sys.modules)\n"
    )
    runs = [
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
        for _ in range(2)
    ]
    assert [r.stdout.strip() for r in runs] == ["False", "False"], [r.stderr for r in runs]

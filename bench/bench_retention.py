"""Retention benchmark: 90 days of 1,000 feeds on a virtual clock; the database stops growing at 30.

Run: ``.venv/bin/python bench/bench_retention.py [--feeds 1000] [--days 90] [--retention 30]
[--postgres URL | --no-postgres] [--quick]``

What is simulated, through the store's own calls (no network, no sleeping: the clock is the
rows' timestamps): every feed serves its latest ``--window`` entries (30); each feed has its
own pace, from one new entry a day to about sixty (mean about 10), so 1,000 feeds bring about
10,000 new entries a day. Every ``24 h / --cycles`` (4) each feed that has something new answers
200 with its whole window and goes through dedup (``unseen_items``, which also refreshes what
is still served) and storage (``save_ingest``: stories, sources, tickers); feeds with nothing
new answer 304 and cost nothing. Four in five new entries found a story, the rest join one as
another source. One story in twenty is alerted to two channels (outbox rows, sent), one in ten
gets a follow-up marker, and twenty subscriptions get a briefing marker a day. Some feeds are
"evergreen" (low volume, entries kept for months), so dedup of still-served entries matters.

Once a simulated day, ``purge(before=now - retention)`` runs as the hourly job would (batches
of 1,000 rows, yielding between them). The database size is printed at 30, 60 and 90 days
with the ratio to the 30-day size (the baseline, measured in the same run): flat means about
1.0. Also: rows ever inserted against rows kept, and that no entry still served came back as
new (dedup held: the count of "new" entries equals the count of entries actually created).

SQLite: file size after a WAL checkpoint, and live bytes (pages in use). PostgreSQL (when
reachable: ``--postgres URL``, else MARKETBOT_TEST_POSTGRES_URL, else 127.0.0.1:5432): the
same run in a scratch database, ``pg_database_size`` after a plain VACUUM (what autovacuum
does in production, compressed here because 90 days pass in minutes).
``--quick``: 200 feeds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import sys
import tempfile
import time
import uuid
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa

from bench.summary import report as summary
from bot.domain.models import ChannelRef, NewsItem, StorySource
from bot.domain.records import FeedSpec, IngestBatch, OutboxEntry
from bot.store import SqlStore, open_store
from tests.support import factories

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
TICKERS = ["AMZN", "MSFT", "NVDA", "AAPL", "BABA", "TSLA", "META", "GOOG", "AMD", "INTC"]
CHANNELS = [ChannelRef("slack", f"C0BENCH{i:03d}") for i in range(20)]


@dataclass
class Feed:
    id: str
    rate: float  # new entries a day
    window: deque[NewsItem] = field(default_factory=deque)
    made: int = 0


@dataclass
class Totals:
    new_reported: int = 0  # entries dedup called new
    created: int = 0  # entries the simulation actually published
    stories: int = 0
    inserted_rows: int = 0
    purged_rows: int = 0
    purge_seconds: float = 0.0
    sizes: dict[int, tuple[int, int]] = field(default_factory=dict)  # day -> (file bytes, live bytes)


def make_feeds(n: int, rng: random.Random) -> list[Feed]:
    feeds = []
    for i in range(n):
        # a long tail: most feeds publish a few entries a day, some dozens; one in ten is "evergreen"
        rate = 0.3 if i % 10 == 0 else min(60.0, rng.lognormvariate(1.8, 0.9))
        feeds.append(Feed(id=f"feed{i:04d}", rate=rate))
    return feeds


def entry(feed: Feed, now: datetime) -> NewsItem:
    """The feed's next entry, published and fetched ``now`` (the tests' ``item`` factory)."""
    feed.made += 1
    link = f"https://{feed.id}.example/news/{feed.made}"
    return factories.item(
        feed.id,
        feed.made,
        at=now,
        title=f"{feed.id} headline {feed.made} about markets",
        link=link,
        guid=link,
        source=feed.id,
        summary="A short summary of the kind feeds carry, two sentences or so, around 200 characters long "
        "so that rows have a realistic size in the database.",
    )


async def cycle(
    store: SqlStore,
    feeds: list[Feed],
    now: datetime,
    per_cycle: float,
    rng: random.Random,
    totals: Totals,
    window: int,
) -> None:
    served: list[NewsItem] = []
    fresh: set[str] = set()
    for f in feeds:
        expected = f.rate * per_cycle
        n = int(expected) + (1 if rng.random() < expected - int(expected) else 0)
        if not n:
            continue  # 304 Not Modified
        for _ in range(n):
            it = entry(f, now)
            f.window.appendleft(it)
            fresh.add(it.id)
        while len(f.window) > window:
            f.window.pop()
        served.extend(replace(it, fetched_at=now) for it in f.window)
    totals.created += len(fresh)
    new = await store.unseen_items(served)
    totals.new_reported += len(new)
    batch = IngestBatch()
    recent: list[str] = []
    alerts: list[OutboxEntry] = []
    for it in new:
        if recent and rng.random() < 0.2:
            sid = rng.choice(recent)
            batch.items.append((it, sid))
            batch.new_sources.append((sid, StorySource(it.source, it.link, now)))
            continue
        sid = f"s-{it.feed_id}-{it.id.rsplit('/', 1)[1]}"
        tickers = tuple(rng.sample(TICKERS, rng.choice((0, 0, 1, 2))))
        story = factories.story(
            it.title,
            sid=sid,
            at=now,
            summary=it.summary,
            source=it.source,
            link=it.link,
            tickers=tickers,
            canonical_url=it.canonical_url,
            published_at=it.published_at,
        )
        batch.items.append((it, sid))
        batch.new_stories.append(story)
        recent.append(sid)
        if rng.random() < 0.05:
            for ch in rng.sample(CHANNELS, 2):
                key = f"story:{sid}:{ch.channel}"
                alert = factories.alert(
                    key, channel=ch, watchlist="bench", title=it.title, link=it.link, source=it.source,
                    published_at=now, summary=it.summary, tickers=(), story_id=sid, created_at=now,
                )  # fmt: skip
                alerts.append(factories.entry(key, None, at=now, status="sent", alert_of=alert))
        if rng.random() < 0.1:
            await store.add_marker(f"followup:{sid}:slack:C0BENCH000:after:{now.isoformat()}", now=now)
            totals.inserted_rows += 1
    await store.save_ingest(batch)
    totals.stories += len(batch.new_stories)
    totals.inserted_rows += len(batch.items) + 2 * len(batch.new_stories) + len(batch.new_sources)
    if alerts:
        await store.enqueue(alerts)
        totals.inserted_rows += len(alerts)


async def size_of(store: SqlStore) -> tuple[int, int]:
    if store.dialect == "sqlite":
        async with store.engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            page = (await conn.exec_driver_sql("PRAGMA page_size")).scalar_one()
            pages = (await conn.exec_driver_sql("PRAGMA page_count")).scalar_one()
            free = (await conn.exec_driver_sql("PRAGMA freelist_count")).scalar_one()
            path = store.engine.url.database or ""
        file = os.path.getsize(path) + (
            os.path.getsize(path + "-wal") if os.path.exists(path + "-wal") else 0
        )
        return file, (pages - free) * page
    async with store.engine.connect() as conn:
        total = (await conn.execute(sa.text("SELECT pg_database_size(current_database())"))).scalar_one()
        live = (
            await conn.execute(
                sa.text("SELECT coalesce(sum(pg_total_relation_size(relid)), 0) FROM pg_stat_user_tables")
            )
        ).scalar_one()
    return int(total), int(live)


async def vacuum(store: SqlStore) -> None:
    if store.dialect != "postgresql":
        return  # SQLite reuses freed pages by itself
    async with store.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.exec_driver_sql("VACUUM")


async def simulate(url: str, args: argparse.Namespace, label: str) -> Totals:
    rng = random.Random(42)
    feeds = make_feeds(args.feeds, rng)
    totals = Totals()
    per_cycle = 1.0 / args.cycles
    retention = timedelta(days=args.retention)
    started = time.perf_counter()
    async with open_store(url) as store:
        await store.sync_feeds(
            [FeedSpec(id=f.id, name=f.id, url=f"https://{f.id}.example/rss") for f in feeds]
        )
        for day in range(1, args.days + 1):
            for c in range(args.cycles):
                now = T0 + (day - 1) * DAY + c * DAY / args.cycles
                await cycle(store, feeds, now, per_cycle, rng, totals, args.window)
            for ch in CHANNELS:  # the morning briefings
                await store.add_marker(f"briefing:{ch}:{(T0 + day * DAY).date()}", now=T0 + day * DAY)
            totals.inserted_rows += len(CHANNELS)
            now = T0 + day * DAY
            t = time.perf_counter()
            report = await store.purge(before=now - retention)
            await vacuum(store)
            totals.purge_seconds += time.perf_counter() - t
            totals.purged_rows += report.rows
            if day in (30, 60, 90) or day == args.days:
                totals.sizes[day] = await size_of(store)
                rows = await store.table_rows(["items", "stories", "story_sources", "outbox", "markers"])
                print(
                    f"  [{label}] day {day:3d}: {totals.sizes[day][0] / 1e6:8.1f} MB on disk, "
                    f"{totals.sizes[day][1] / 1e6:8.1f} MB live; rows {rows}; "
                    f"{time.perf_counter() - started:5.0f} s elapsed",
                    flush=True,
                )
    return totals


def report(label: str, totals: Totals, args: argparse.Namespace) -> None:
    base = totals.sizes.get(args.retention)
    print(f"{label}:")
    for day, (file, live) in sorted(totals.sizes.items()):
        ratio = (
            f"  ×{file / base[0]:.2f} on disk, ×{live / base[1]:.2f} live vs day {args.retention}"
            if base
            else ""
        )
        print(f"  day {day:3d}: {file / 1e6:8.1f} MB on disk, {live / 1e6:8.1f} MB live{ratio}")
    kept = totals.inserted_rows - totals.purged_rows
    print(
        f"  rows inserted {totals.inserted_rows:,}, purged {totals.purged_rows:,}, kept {kept:,} "
        f"({kept / max(totals.inserted_rows, 1):.0%} of what no retention would keep); purging took "
        f"{totals.purge_seconds:.1f} s in all ({totals.purge_seconds / args.days * 1000:.0f} ms a day)"
    )
    last = max(totals.sizes)
    if base and last > args.retention:
        growth = totals.sizes[last][0] / base[0]
        summary(
            f"{label}: size on day {last} vs day {args.retention}",
            f"x{growth:.2f} ({totals.sizes[last][0] / 1e6:.0f} MB)",
            "flat after the retention period: <= x1.20",
            growth <= 1.2,
        )
    held = "held" if totals.new_reported == totals.created else "BROKEN"
    print(
        f"  dedup {held}: {totals.created:,} entries published, {totals.new_reported:,} seen as new "
        f"(every still-served entry was recognised after its first {args.retention} days)"
    )
    summary(
        f"{label}: still-served entries seen as new again",
        f"{totals.new_reported - totals.created:,}",
        "0 (dedup holds after purging)",
        totals.new_reported == totals.created,
    )


def postgres_url(args: argparse.Namespace) -> str | None:
    if args.no_postgres:
        return None
    url = args.postgres or os.environ.get("MARKETBOT_TEST_POSTGRES_URL")
    if url:
        return url
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
    except OSError:
        return None


async def run_postgres(base: str, args: argparse.Namespace) -> Totals | None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    name = f"mb_bench_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(base, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except Exception as exc:
        print(f"PostgreSQL at {base} is not usable ({exc}); skipped")
        await admin.dispose()
        return None
    try:
        url = make_url(base).set(database=name).render_as_string(hide_password=False)
        return await simulate(url, args, "PostgreSQL")
    finally:
        async with admin.connect() as conn:
            await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--retention", type=int, default=30)
    parser.add_argument("--cycles", type=int, default=4, help="changed responses a feed can give per day")
    parser.add_argument("--window", type=int, default=30, help="entries a feed serves")
    parser.add_argument("--postgres", default=None)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.feeds = 200
    print(
        f"retention benchmark: {args.feeds} feeds, {args.days} days, retention {args.retention} days, "
        f"{args.cycles} cycles a day, {args.window} entries per response"
    )
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = await simulate(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}", args, "SQLite")
        report("SQLite", sqlite, args)
    pg = postgres_url(args)
    if pg:
        totals = await run_postgres(pg, args)
        if totals is not None:
            report("PostgreSQL", totals, args)
    else:
        print("PostgreSQL: not reachable (--postgres URL or MARKETBOT_TEST_POSTGRES_URL); skipped")


if __name__ == "__main__":
    asyncio.run(main())

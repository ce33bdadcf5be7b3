"""The outbox operations delivery added to the Store, on SQLite and a real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.models import Alert, ChannelRef, MessageRef, Quote, TickerLine
from bot.domain.records import OutboxEntry, SubscriptionSpec
from bot.store import SqlStore, open_store

T0 = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)
SLACK = ChannelRef("slack", "C0123ABCD", "T1")
LEASE = timedelta(seconds=60)


def alert(
    key: str, *, story_id: str | None = None, kind: str = "story", channel: ChannelRef = SLACK
) -> Alert:
    return Alert(
        key=key,
        kind=kind,  # type: ignore[arg-type]
        channel=channel,
        watchlist="cloud-china",
        title=f"Title {key}",
        link="https://news.example/x",
        source="Reuters",
        published_at=T0,
        tickers=(TickerLine("AMZN"),),
        story_id=story_id,
    )


def entry(
    key: str, sub: int | None, *, status: str = "pending", at: datetime = T0, **kw: object
) -> OutboxEntry:
    return OutboxEntry(
        key=key,
        alert=alert(key, **kw),  # type: ignore[arg-type]
        subscription_id=sub,
        due_at=at,
        status=status,  # type: ignore[arg-type]
        created_at=at,
    )


def digest_of(entries: Sequence[OutboxEntry]) -> list[OutboxEntry]:
    keys = ",".join(e.key for e in entries)
    return [entry(f"digest:{keys}", entries[0].subscription_id)]


async def test_fold_held_queues_the_replacement_with_the_release(store: SqlStore) -> None:
    sub = await store.add_subscription(SubscriptionSpec("w", SLACK, scope="slack:T1"))
    await store.enqueue(
        [
            entry("old", sub.id, status="held", at=T0 - timedelta(hours=13)),
            entry("h1", sub.id, status="held"),
            entry("h2", sub.id, status="held"),
            entry("p1", sub.id),
        ]
    )
    release = await store.fold_held(
        sub.id,
        now=T0,
        compose=digest_of,
        drop_before=T0 - timedelta(hours=12),
        drop_reason="stale: held longer than 12 h",
    )
    assert [e.key for e in release.dropped] == ["old"]
    assert [e.key for e in release.folded] == ["h1", "h2"]
    assert [e.key for e in release.queued] == ["digest:h1,h2"]
    assert await store.held_entries(sub.id) == []
    # the digest queues behind p1 in the channel, and nothing is held any more
    first = await store.claim_due(now=T0, limit=10, lease=LEASE, worker="w")
    assert [e.key for e in first] == ["p1"]
    await store.mark_sent(first[0].id, ref=MessageRef(SLACK, "1"), now=T0)  # type: ignore[arg-type]
    assert [e.key for e in await store.claim_due(now=T0, limit=10, lease=LEASE, worker="w")] == [
        "digest:h1,h2"
    ]
    # a second release finds nothing and queues nothing
    again = await store.fold_held(sub.id, now=T0, compose=digest_of)
    assert (again.folded, again.dropped, again.queued) == ([], [], [])


async def test_concurrent_fold_held_releases_each_alert_once(store: SqlStore) -> None:
    sub = await store.add_subscription(SubscriptionSpec("w", SLACK, scope="slack:T1"))
    await store.enqueue([entry(f"h{i}", sub.id, status="held") for i in range(20)])
    releases = await asyncio.gather(*(store.fold_held(sub.id, now=T0, compose=digest_of) for _ in range(4)))
    folded = [e.key for r in releases for e in r.folded]
    assert sorted(folded) == sorted(f"h{i}" for i in range(20))
    assert sum(len(r.queued) for r in releases) == sum(1 for r in releases if r.folded)


async def test_refresh_unsent_replaces_only_what_no_sender_holds(store: SqlStore) -> None:
    sub = await store.add_subscription(SubscriptionSpec("w", SLACK, scope="slack:T1"))
    await store.enqueue([entry("a", sub.id), entry("b", sub.id, status="held")])
    priced = replace(
        alert("a"),
        tickers=(TickerLine("AMZN", Quote("AMZN", 181.2, 182.69, -1.49, -0.82, None, T0)),),
    )
    assert await store.refresh_unsent("a", priced) == "pending"
    assert await store.refresh_unsent("b", replace(priced, key="b")) == "held"
    assert await store.refresh_unsent("nope", priced) is None
    claimed = await store.claim_due(now=T0, limit=10, lease=LEASE, worker="w")
    assert claimed[0].alert == priced
    assert await store.refresh_unsent("a", alert("a")) == "claimed"
    assert (await store.claim_due(now=T0 + 2 * LEASE, limit=1, lease=LEASE, worker="w"))[0].alert == priced


async def test_sent_ref_and_story_deliveries(store: SqlStore) -> None:
    s1 = await store.add_subscription(SubscriptionSpec("w", SLACK, scope="slack:T1"))
    other = ChannelRef("slack", "C0999ZZZZ", "T1")
    s2 = await store.add_subscription(SubscriptionSpec("w", other, scope="slack:T1"))
    await store.enqueue(
        [
            entry("story:x:sub:1", s1.id, story_id="x"),
            entry("story:x:sub:2", s2.id, story_id="x", channel=other),
            entry("followup:x:sub:1:1", s1.id, story_id="x", kind="followup"),
        ]
    )
    assert [e.key for e in await store.story_deliveries("x")] == ["story:x:sub:1", "story:x:sub:2"]
    assert [e.key for e in await store.story_deliveries("x", kinds=("story", "followup"))] == [
        "story:x:sub:1",
        "story:x:sub:2",
        "followup:x:sub:1:1",
    ]
    assert await store.story_deliveries("y") == []
    assert await store.sent_ref("story:x:sub:1") is None
    claimed = {e.key: e for e in await store.claim_due(now=T0, limit=10, lease=LEASE, worker="w")}
    await store.mark_sent(claimed["story:x:sub:1"].id, ref=MessageRef(SLACK, "1700.1", None), now=T0)  # type: ignore[arg-type]
    assert await store.sent_ref("story:x:sub:1") == MessageRef(SLACK, "1700.1")
    statuses = {e.key: e.status for e in await store.story_deliveries("x")}
    assert statuses == {"story:x:sub:1": "sent", "story:x:sub:2": "claimed"}


@pytest.mark.postgres
async def test_two_engines_fold_the_same_held_alerts_once(postgres: object) -> None:
    """Two processes running the quiet-hours job at once never produce two digests of one alert."""
    url = await postgres.new_database()  # type: ignore[attr-defined]
    async with open_store(url) as a, open_store(url) as b:
        sub = await a.add_subscription(SubscriptionSpec("w", SLACK, scope="slack:T1"))
        await a.enqueue([entry(f"h{i}", sub.id, status="held") for i in range(30)])
        ra, rb = await asyncio.gather(
            a.fold_held(sub.id, now=T0, compose=digest_of), b.fold_held(sub.id, now=T0, compose=digest_of)
        )
    folded = [e.key for e in ra.folded + rb.folded]
    assert sorted(folded) == sorted(f"h{i}" for i in range(30))
    assert len(ra.queued) + len(rb.queued) == (1 if ra.folded else 0) + (1 if rb.folded else 0)


async def test_mark_sent_many_records_every_row_and_the_last_delivery(store: SqlStore) -> None:
    s1 = await store.add_subscription(SubscriptionSpec("w", SLACK, scope="slack:T1"))
    other = ChannelRef("slack", "C0999ZZZZ", "T1")
    s2 = await store.add_subscription(SubscriptionSpec("w", other, scope="slack:T1"))
    await store.enqueue(
        [
            entry("a", s1.id),
            entry("b", s2.id, channel=other),
            entry("c", None, channel=ChannelRef("console", "console")),
        ]
    )
    claimed = await store.claim_due(now=T0, limit=10, lease=LEASE, worker="w")
    await store.mark_sent_many(
        [(e.id, MessageRef(e.alert.channel, f"m-{e.key}", "t")) for e in claimed], now=T0
    )  # type: ignore[misc]
    assert await store.sent_ref("a") == MessageRef(SLACK, "m-a", "t")
    assert await store.sent_ref("c") is not None
    stats = await store.channel_stats()
    assert (stats[s1.id].last_delivery_at, stats[s2.id].last_delivery_at) == (T0, T0)
    assert stats[s1.id].queued == stats[s2.id].queued == 0
    await store.mark_sent_many([], now=T0)


async def test_existing_keys(store: SqlStore) -> None:
    await store.enqueue([entry(f"k{i}", None) for i in range(3)])
    keys = [f"k{i}" for i in range(1200)]  # more than one chunk of IN (...)
    assert await store.existing_keys(keys) == {"k0", "k1", "k2"}
    assert await store.existing_keys([]) == set()

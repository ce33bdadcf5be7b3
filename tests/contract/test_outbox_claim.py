"""``claim_due`` against a model of its rules, over random outbox histories (SQLite and PostgreSQL).

The claim walks each channel's unsent rows through a partial index instead of ranking the whole
backlog; these tests replay random sequences of queueing, claims by several workers, sends,
retries, failures and releases, and check every claim takes exactly the rows the documented rules
give: each channel's oldest unsent rows while they are due, up to the channel's cap, taken
round-robin (rank in channel, then due time, then id) up to the limit.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from bot.domain.models import ChannelRef, MessageRef
from bot.store import SqlStore
from bot.store import schema as t
from tests.support.factories import T0, entry

LEASE = timedelta(seconds=60)
CHANNELS = [
    ChannelRef("slack", "C1", "T1"),
    ChannelRef("slack", "C2", "T1"),
    ChannelRef("discord", "111", "G1"),
    ChannelRef("discord", "222", "G1"),
    ChannelRef("console", "out"),
]


def expected_claim(
    rows: list[Any],
    *,
    now: datetime,
    limit: int,
    worker: str,
    caps: dict[str, int],
    default_cap: int,
    others: bool,
) -> set[int]:
    """The ids the claim's rules give for these outbox rows (no replicas' heartbeats)."""

    def due(r: Any) -> bool:
        if r.status == "pending":
            return bool(r.due_at <= now)
        expired = r.claimed_until < now
        return bool(expired and (others or r.claimed_by == worker))

    by_channel: dict[str, list[Any]] = {}
    for r in sorted(rows, key=lambda r: r.id):
        if r.status in ("pending", "claimed"):
            by_channel.setdefault(r.channel, []).append(r)
    picked = []
    for channel, unsent in by_channel.items():
        cap = caps.get(channel.split(":", 1)[0], default_cap)
        for rank, r in enumerate(unsent[:cap], start=1):
            if not due(r):
                break
            picked.append((rank, r.due_at, r.id))
    return {i for _, _, i in sorted(picked)[:limit]}


async def outbox_rows(store: SqlStore) -> list[Any]:
    async with store.engine.connect() as conn:
        return list((await conn.execute(sa.select(t.outbox))).all())


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_claims_follow_the_rules_over_random_histories(store: SqlStore, seed: int) -> None:
    rng = random.Random(seed)
    now = T0
    keys = 0
    held: dict[str, list[int]] = {"a": [], "b": [], "c": []}
    for step in range(40):
        # queue a few alerts: some due later, some held
        batch = []
        for _ in range(rng.randint(0, 12)):
            keys += 1
            channel = rng.choice(CHANNELS)
            at = now + timedelta(seconds=rng.choice([-30, -1, 0, 0, 0, 5, 90]))
            status = "held" if rng.random() < 0.1 else "pending"
            batch.append(entry(f"k{keys}", at=at, status=status, channel=channel))
        await store.enqueue(batch)

        worker = rng.choice(list(held))
        caps = {"slack": rng.randint(1, 3), "discord": rng.randint(1, 4)} if rng.random() < 0.7 else {}
        default_cap = rng.randint(1, 5)
        limit = rng.randint(1, 15)
        others = rng.random() < 0.8
        want = expected_claim(
            await outbox_rows(store),
            now=now,
            limit=limit,
            worker=worker,
            caps=caps,
            default_cap=default_cap,
            others=others,
        )
        got = await store.claim_due(
            now=now,
            limit=limit,
            lease=LEASE,
            worker=worker,
            per_channel=default_cap,
            per_platform=caps or None,
            others=others,
        )
        assert {e.id for e in got} == want, f"step {step}"
        assert all(e.status == "claimed" and e.claimed_by == worker for e in got)
        for w in held:
            held[w] = [i for i in held[w] if i not in want]
        held[worker] += [e.id for e in got if e.id is not None]

        # the workers finish some of what they hold: sent, retried later, failed, given back
        for w, ids in held.items():
            rest = []
            for i in ids:
                fate = rng.random()
                if fate < 0.35:
                    await store.mark_sent(i, ref=MessageRef(CHANNELS[0], "m"), now=now)
                elif fate < 0.45:
                    await store.mark_retry(
                        i, due_at=now + timedelta(seconds=rng.choice([10, 200])), error="x"
                    )
                elif fate < 0.5:
                    await store.mark_failed(i, error="gone")
                elif fate < 0.6:
                    await store.release_claims([i], worker=w)
                else:
                    rest.append(i)  # still held: its lease runs out in a while
            held[w] = rest
        now += timedelta(seconds=rng.choice([1, 5, 20, 70]))


async def test_a_claim_reads_each_channel_head_not_the_backlog(store: SqlStore) -> None:
    """Rows are taken round-robin from many channels' heads even behind a long backlog."""
    chans = [ChannelRef("discord", str(1000 + i), "G1") for i in range(30)]
    await store.enqueue([entry(f"k{i}", channel=chans[i % 30]) for i in range(3000)])
    got = await store.claim_due(now=T0, limit=45, lease=LEASE, worker="w", per_channel=5)
    # every channel's first row, then the first fifteen channels' second rows (by id)
    assert sorted(e.key for e in got) == sorted(f"k{i}" for i in range(45))
    # the next claim finds every channel held by w: nothing until the lease runs out
    assert await store.claim_due(now=T0, limit=45, lease=LEASE, worker="w2") == []
    later = await store.claim_due(now=T0 + LEASE * 2, limit=100, lease=LEASE, worker="w2", per_channel=2)
    assert len(later) == 60 and {e.claimed_by for e in later} == {"w2"}

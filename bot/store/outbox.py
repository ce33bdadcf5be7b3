"""The outbox: alerts waiting for their channel, claimed atomically, sent once, in order.

Ordering: a channel's alerts go out in the order they were queued. ``claim_due`` only hands
out the oldest unsent alert of each channel, so a channel whose head alert waits for a retry
holds its later alerts back instead of letting them overtake it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bot.domain.codec import alert_from_dict, alert_to_dict, channel_from_dict
from bot.domain.models import Alert, MessageRef
from bot.domain.records import ChannelStats, HeldRelease, OutboxEntry, OutboxStatus
from bot.store import schema as t
from bot.store.base import StoreBase

_UNSENT = ("pending", "claimed")
OUTBOX_CLAIM_LOCK = 0x6D6B746F  # "mkto": serialises outbox claims across replicas (PostgreSQL)


def _entry(row: Any) -> OutboxEntry:
    return OutboxEntry(
        id=row.id,
        key=row.key,
        alert=alert_from_dict(row.payload),
        subscription_id=row.subscription_id,
        due_at=row.due_at,
        status=row.status,
        attempts=row.attempts,
        first_attempt_at=row.first_attempt_at,
        claimed_until=row.claimed_until,
        claimed_by=row.claimed_by,
        last_error=row.last_error,
        message_id=row.message_id,
        thread_id=row.thread_id,
        sent_at=row.sent_at,
        created_at=row.created_at,
    )


def _sent_ref(row: Any) -> MessageRef | None:
    """The message a sent row (payload, message_id, thread_id) became; None without one."""
    if row is None or row.message_id is None:
        return None
    return MessageRef(channel_from_dict(row.payload["channel"]), row.message_id, row.thread_id)


def _row(e: OutboxEntry) -> dict[str, Any]:
    return {
        "key": e.key,
        "subscription_id": e.subscription_id,
        "channel": str(e.alert.channel),
        "kind": e.alert.kind,
        "story_id": e.alert.story_id,
        "payload": alert_to_dict(e.alert),
        "status": e.status,
        "due_at": e.due_at,
        "created_at": e.created_at or e.due_at,
    }


def _claim_pick(
    dialect: str, caps: Mapping[str, int], default_cap: int, *, others: bool, replicas: bool
) -> str:
    """The ids ``claim_due`` takes, best first: a walk over each channel's unsent rows in id order.

    ``chans`` lists the channels with unsent rows (a loose scan: one index seek per channel).
    ``walk`` starts at each channel's oldest unsent row and steps to the channel's next unsent
    row while the rows are due and the channel's cap is not reached; a row that is not due ends
    its channel's walk (it holds back every later row). Every step is a seek in the partial index
    ``ix_outbox_unsent``, so a claim costs about (channels + rows claimed) seeks, whatever the
    backlog. The walk yields rows by (rank in channel, due_at, id), the round-robin order, and
    stops at ``:limit``: on SQLite the recursive CTE's ORDER BY/LIMIT make its queue a priority
    queue; on PostgreSQL (no ORDER BY in a recursive CTE) it goes level by level, each row
    carrying how many rows the levels so far hold, and stops expanding once that reaches the
    limit. The text is cached per shape (dialect, caps, replicas).
    """
    return _claim_pick_cached(dialect, tuple(caps.items()), default_cap, others, replicas)


@functools.lru_cache(maxsize=64)
def _claim_pick_cached(
    dialect: str, caps: tuple[tuple[str, int], ...], default_cap: int, others: bool, replicas: bool
) -> str:
    unsent = f"u.{t.OUTBOX_UNSENT}"
    reclaim = "o.claimed_until < :now"
    if not others:
        reclaim = "o.claimed_until < :now AND o.claimed_by = :worker"
    elif replicas:
        # own claims, and those of a worker that is no replica (no heartbeat row): at expiry;
        # a live replica's: beyond the margin; a dead replica's: now
        reclaim = (
            "(o.claimed_until < :now AND (o.claimed_by = :worker OR o.claimed_by NOT IN "
            "(SELECT r.id FROM replicas AS r WHERE r.heartbeat_at >= :alive_since)))"
            " OR o.claimed_until < :live_until"
            " OR o.claimed_by IN (SELECT r.id FROM replicas AS r WHERE r.heartbeat_at < :alive_since)"
        )
    due = f"((o.status = 'pending' AND o.due_at <= :now) OR (o.status = 'claimed' AND ({reclaim})))"
    cap = str(default_cap)
    if caps:
        whens = " ".join(
            f"WHEN o.channel = :platform_{i} OR substr(o.channel, 1, {len(p) + 1}) = :prefix_{i} THEN {n}"
            for i, (p, n) in enumerate(caps)
        )
        cap = f"CASE {whens} ELSE {default_cap} END"
    if dialect == "postgresql":
        row = "SELECT u.id, u.channel, u.status, u.due_at, u.claimed_until, u.claimed_by FROM outbox AS u"
        return (
            "WITH RECURSIVE chans(channel) AS ("
            f"(SELECT u.channel FROM outbox AS u WHERE {unsent} ORDER BY u.channel LIMIT 1)"
            " UNION ALL"
            f" SELECT (SELECT u.channel FROM outbox AS u WHERE {unsent} AND u.channel > chans.channel"
            " ORDER BY u.channel LIMIT 1) FROM chans WHERE chans.channel IS NOT NULL"
            "), walk(id, channel, rn, due_at, cap, total) AS ("
            f"SELECT o.id, o.channel, 1, o.due_at, {cap}, count(*) OVER ()"
            f" FROM chans CROSS JOIN LATERAL ({row} WHERE {unsent} AND u.channel = chans.channel"
            f" ORDER BY u.id LIMIT 1) AS o WHERE {due}"
            " UNION ALL"
            " SELECT o.id, o.channel, walk.rn + 1, o.due_at, walk.cap, walk.total + count(*) OVER ()"
            f" FROM walk CROSS JOIN LATERAL ({row} WHERE {unsent} AND u.channel = walk.channel"
            " AND u.id > walk.id ORDER BY u.id LIMIT 1) AS o"
            f" WHERE walk.rn < walk.cap AND walk.total < :limit AND {due}"
            ") SELECT walk.id FROM walk ORDER BY walk.rn, walk.due_at, walk.id LIMIT :limit"
        )
    # SQLite: without statistics its planner prefers the (status, due_at) index for these seeks,
    # which scans the whole backlog each time; INDEXED BY names the one index that fits
    u = f"outbox AS u INDEXED BY {t.OUTBOX_UNSENT_INDEX}"
    return (
        "WITH RECURSIVE chans(channel) AS ("
        f"SELECT min(u.channel) FROM {u} WHERE {unsent}"
        " UNION ALL"
        f" SELECT (SELECT min(u.channel) FROM {u} WHERE {unsent} AND u.channel > chans.channel)"
        " FROM chans WHERE chans.channel IS NOT NULL"
        "), walk(id, channel, rn, due_at, cap) AS ("
        f"SELECT o.id, o.channel, 1 AS rn, o.due_at, {cap} FROM chans JOIN outbox AS o"
        f" ON o.id = (SELECT min(u.id) FROM {u} WHERE {unsent} AND u.channel = chans.channel)"
        f" WHERE {due}"
        " UNION ALL"
        " SELECT o.id, o.channel, walk.rn + 1, o.due_at, walk.cap FROM walk JOIN outbox AS o"
        f" ON o.id = (SELECT min(u.id) FROM {u} WHERE {unsent} AND u.channel = walk.channel"
        " AND u.id > walk.id)"
        f" WHERE walk.rn < walk.cap AND {due}"
        " ORDER BY rn, due_at, id LIMIT :limit"
        ") SELECT walk.id FROM walk"
    )


class OutboxStore(StoreBase):
    """Outbox and markers half of ``bot.ports.Store``."""

    async def enqueue(self, entries: Sequence[OutboxEntry]) -> int:
        """Queue alerts; an entry whose key was ever queued is ignored. Returns how many were new."""
        if not entries:
            return 0
        async with self.engine.begin() as conn:
            return len(await self._insert_entries(conn, entries))

    async def _insert_entries(self, conn: Any, entries: Sequence[OutboxEntry]) -> set[str]:
        """Insert entries in queue order, skipping any key ever queued; the keys newly queued.

        One transaction (the caller's), one ``INSERT ... ON CONFLICT (key) DO NOTHING RETURNING``
        executed with every row: SQLAlchemy sends it as multi-row VALUES pages within the
        database's parameter limit ("insertmanyvalues") and compiles it once, where
        ``stmt.values(rows)`` was compiled again for every chunk (0.8 s of a 1,000-feed cycle's
        profile). Within the batch the first entry of a key wins and later ones are ignored, as
        for a key queued earlier; ids follow the entries' order.
        """
        first: dict[str, OutboxEntry] = {}
        for e in entries:
            first.setdefault(e.key, e)
        rows = [_row(e) for e in first.values()]
        if not rows:
            return set()
        stmt = self.insert_ignore(t.outbox, ["key"]).returning(t.outbox.c.key)
        return {r.key for r in await conn.execute(stmt, rows)}

    async def existing_keys(self, keys: Sequence[str]) -> set[str]:
        """Which of these idempotency keys were ever queued (so work for them can be skipped)."""
        found: set[str] = set()
        unique = list(dict.fromkeys(keys))
        async with self.engine.connect() as conn:
            for i in range(0, len(unique), 500):
                chunk = unique[i : i + 500]
                rows = await conn.execute(sa.select(t.outbox.c.key).where(t.outbox.c.key.in_(chunk)))
                found.update(r.key for r in rows)
        return found

    async def claim_due(
        self,
        *,
        now: datetime,
        limit: int,
        lease: timedelta,
        worker: str,
        per_channel: int = 1,
        per_platform: Mapping[str, int] | None = None,
        alive_since: datetime | None = None,
        live_margin: timedelta = timedelta(0),
        others: bool = True,
    ) -> list[OutboxEntry]:
        """Atomically claim up to ``limit`` due alerts, up to ``per_channel`` of each channel.

        A channel's claimed rows are its oldest unsent ones, consecutive and all due: a row
        waiting for a retry, or claimed by another worker whose lease has not expired, holds
        back every later row of its channel, so a channel's alerts go out in queue order and
        only one worker holds a channel at a time. ``per_platform`` overrides ``per_channel``
        for channels of a platform (Slack's 1/s needs fewer rows per claim than the console).
        Rows are taken round-robin over channels (every channel's first row, then second, ...)
        so one busy channel cannot starve the others. Claims whose lease expired (a worker
        died between claim and send) are due again. On PostgreSQL claims are serialised by a
        transaction advisory lock, so concurrent workers never claim into one channel at once.

        Replicas (``alive_since``: heartbeats older than this are of dead replicas): the claims
        of a dead replica are due at once, lease or not; those of a live replica (a slow one)
        only once their lease expired more than ``live_margin`` ago, time for it to record what
        it sent. With ``others=False`` only ``worker``'s own expired claims are due again (just
        after an outage of this worker's own, when every heartbeat looks old).
        """
        replicas = others and alive_since is not None
        caps = {p: max(int(n), 1) for p, n in (per_platform or {}).items()}
        sql = _claim_pick(self.dialect, caps, max(int(per_channel), 1), others=others, replicas=replicas)
        params: list[sa.BindParameter[Any]] = [
            sa.bindparam("now", now, type_=t.UTCDateTime),
            sa.bindparam("limit", limit, type_=sa.Integer),
        ]
        if not others or replicas:
            params.append(sa.bindparam("worker", worker, type_=sa.String))
        if replicas:
            params += [
                sa.bindparam("alive_since", alive_since, type_=t.UTCDateTime),
                sa.bindparam("live_until", now - live_margin, type_=t.UTCDateTime),
            ]
        for i, platform in enumerate(caps):
            params += [
                sa.bindparam(f"platform_{i}", platform, type_=sa.String),
                sa.bindparam(f"prefix_{i}", f"{platform}:", type_=sa.String),
            ]
        pick = sa.text(sql).bindparams(*params).columns(sa.column("id", sa.Integer))
        stmt = (
            sa.update(t.outbox)
            .where(t.outbox.c.id.in_(pick), t.outbox.c.status.in_(_UNSENT))
            .values(
                status="claimed",
                claimed_until=now + lease,
                claimed_by=worker,
                attempts=t.outbox.c.attempts + 1,
                first_attempt_at=sa.func.coalesce(t.outbox.c.first_attempt_at, now),
            )
            .returning(*t.outbox.c)
        )
        async with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                await conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": OUTBOX_CLAIM_LOCK})
            rows = (await conn.execute(stmt)).all()
        return sorted((_entry(r) for r in rows), key=lambda e: (e.due_at, e.id or 0))

    async def recent_sends(self, windows: Mapping[str, int], *, worker: str) -> dict[str, list[datetime]]:
        """When other workers last sent to these channels: up to ``windows[channel]`` times each.

        The times (``sent_at``, recorded after the platform answered, so never earlier than the
        send) of each channel's latest sent rows, leaving out rows ``worker`` sent itself (its
        own rate limiter saw those). A dispatcher that takes a channel over from another
        replica seeds its limiter with them, so the channel's rate limit holds across replicas.
        Reads each channel's last rows by the ``(channel, status, id)`` index: a few rows each.
        """
        wanted = {ch: n for ch, n in windows.items() if n > 0}
        if not wanted:
            return {}
        o = t.outbox
        out: dict[str, list[datetime]] = {}
        async with self.engine.connect() as conn:
            if self.dialect == "postgresql":
                # one round trip: each channel's last n sent rows, read backwards along the index
                q = sa.text(
                    "SELECT w.ch AS channel, s.sent_at, s.claimed_by "
                    "FROM unnest(CAST(:chs AS varchar[]), CAST(:ns AS int[])) AS w(ch, n) "
                    "CROSS JOIN LATERAL (SELECT sent_at, claimed_by FROM outbox "
                    "WHERE outbox.channel = w.ch AND outbox.status = 'sent' "
                    "ORDER BY outbox.id DESC LIMIT w.n) AS s"
                ).columns(
                    sa.column("channel", sa.String),
                    sa.column("sent_at", t.UTCDateTime),
                    sa.column("claimed_by", sa.String),
                )
                rows = list((await conn.execute(q, {"chs": list(wanted), "ns": list(wanted.values())})).all())
            else:
                rows = []
                for ch, n in wanted.items():
                    last = (
                        sa.select(o.c.channel, o.c.sent_at, o.c.claimed_by)
                        .where(o.c.channel == ch, o.c.status == "sent")
                        .order_by(o.c.id.desc())
                        .limit(n)
                    )
                    rows += (await conn.execute(last)).all()
        for r in rows:
            if r.sent_at is not None and r.claimed_by != worker:
                out.setdefault(r.channel, []).append(r.sent_at)
        return out

    async def renew_claims(self, entry_ids: Sequence[int], *, worker: str, until: datetime) -> int:
        """Extend the lease of rows ``worker`` still holds to ``until`` (it is still sending them).

        Returns how many it still held (a row another worker took over is left alone).
        """
        if not entry_ids:
            return 0
        o = t.outbox
        async with self.engine.begin() as conn:
            result = await conn.execute(
                sa.update(o)
                .where(o.c.id.in_(list(entry_ids)), o.c.status == "claimed", o.c.claimed_by == worker)
                .values(claimed_until=until)
            )
        return int(result.rowcount or 0)

    async def release_claims(self, entry_ids: Sequence[int], *, worker: str) -> int:
        """Give claimed rows back untried (due as they were, the claim's attempt not counted).

        Only rows still claimed by ``worker`` are released (a row whose lease expired and was
        claimed by another worker is left alone). Returns how many were released.
        """
        if not entry_ids:
            return 0
        o = t.outbox
        async with self.engine.begin() as conn:
            result = await conn.execute(
                sa.update(o)
                .where(o.c.id.in_(list(entry_ids)), o.c.status == "claimed", o.c.claimed_by == worker)
                .values(
                    status="pending",
                    claimed_until=None,
                    claimed_by=None,
                    attempts=sa.case((o.c.attempts > 0, o.c.attempts - 1), else_=0),
                    first_attempt_at=sa.case((o.c.attempts <= 1, sa.null()), else_=o.c.first_attempt_at),
                )
            )
        return int(result.rowcount or 0)

    async def mark_sent(self, entry_id: int, *, ref: MessageRef, now: datetime) -> None:
        async with self.engine.begin() as conn:
            row = (
                await conn.execute(
                    sa.update(t.outbox)
                    .where(t.outbox.c.id == entry_id)
                    .values(
                        status="sent",
                        message_id=ref.id,
                        thread_id=ref.thread_id,
                        sent_at=now,
                        claimed_until=None,
                        last_error=None,
                    )
                    .returning(t.outbox.c.subscription_id)
                )
            ).first()
            if row is not None and row.subscription_id is not None:
                await conn.execute(
                    sa.update(t.subscriptions)
                    .where(t.subscriptions.c.id == row.subscription_id)
                    .values(last_delivery_at=now)
                )

    async def mark_sent_many(self, sent: Sequence[tuple[int, MessageRef]], *, now: datetime) -> None:
        """``mark_sent`` for many rows in one transaction (the dispatcher batches completions)."""
        if not sent:
            return
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.update(t.outbox)
                .where(t.outbox.c.id == sa.bindparam("row_id"))
                .values(
                    status="sent",
                    message_id=sa.bindparam("mid"),
                    thread_id=sa.bindparam("tid"),
                    sent_at=now,
                    claimed_until=None,
                    last_error=None,
                ),
                [{"row_id": i, "mid": ref.id, "tid": ref.thread_id} for i, ref in sent],
            )
            ids = [i for i, _ in sent]
            subs = sa.select(t.outbox.c.subscription_id).where(
                t.outbox.c.id.in_(ids), t.outbox.c.subscription_id.is_not(None)
            )
            await conn.execute(
                sa.update(t.subscriptions).where(t.subscriptions.c.id.in_(subs)).values(last_delivery_at=now)
            )

    async def mark_retry(self, entry_id: int, *, due_at: datetime, error: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.update(t.outbox)
                .where(t.outbox.c.id == entry_id)
                .values(
                    status="pending",
                    due_at=due_at,
                    last_error=error[:2000],
                    claimed_until=None,
                    claimed_by=None,
                )
            )

    async def mark_failed(self, entry_id: int, *, error: str, status: OutboxStatus = "failed") -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.update(t.outbox)
                .where(t.outbox.c.id == entry_id)
                .values(status=status, last_error=error[:2000], claimed_until=None)
            )

    async def release_held(self, subscription_id: int, *, now: datetime) -> list[OutboxEntry]:
        """Take a subscription's held alerts (oldest first), marking them folded into a digest."""
        async with self.engine.begin() as conn:
            rows = (
                await conn.execute(
                    sa.update(t.outbox)
                    .where(t.outbox.c.subscription_id == subscription_id, t.outbox.c.status == "held")
                    .values(status="folded", sent_at=now)
                    .returning(*t.outbox.c)
                )
            ).all()
        return sorted((_entry(r) for r in rows), key=lambda e: e.id or 0)

    async def fold_held(
        self,
        subscription_id: int,
        *,
        now: datetime,
        compose: Callable[[list[OutboxEntry]], Sequence[OutboxEntry]],
        drop_before: datetime | None = None,
        drop_reason: str = "dropped",
    ) -> HeldRelease:
        """Release a subscription's held alerts and queue what replaces them, in one transaction.

        Held rows created before ``drop_before`` become ``dropped`` (with ``drop_reason``); the
        rest become ``folded`` and ``compose(folded)`` (oldest first) returns the entries to queue
        instead (a digest, or a late single alert). Concurrent callers each get disjoint rows, and
        a crash can never fold alerts without queueing their replacement.
        """
        base = (t.outbox.c.subscription_id == subscription_id, t.outbox.c.status == "held")
        async with self.engine.begin() as conn:
            dropped: list[OutboxEntry] = []
            if drop_before is not None:
                rows = (
                    await conn.execute(
                        sa.update(t.outbox)
                        .where(*base, t.outbox.c.created_at < drop_before)
                        .values(status="dropped", sent_at=now, last_error=drop_reason[:2000])
                        .returning(*t.outbox.c)
                    )
                ).all()
                dropped = sorted((_entry(r) for r in rows), key=lambda e: e.id or 0)
            rows = (
                await conn.execute(
                    sa.update(t.outbox)
                    .where(*base)
                    .values(status="folded", sent_at=now)
                    .returning(*t.outbox.c)
                )
            ).all()
            folded = sorted((_entry(r) for r in rows), key=lambda e: e.id or 0)
            queued: list[OutboxEntry] = []
            if folded:
                composed = list(compose(folded))
                new = await self._insert_entries(conn, composed)
                for e in composed:
                    if e.key in new:
                        queued.append(e)
                        new.discard(e.key)
        return HeldRelease(folded=folded, dropped=dropped, queued=queued)

    async def refresh_unsent(self, key: str, alert: Alert) -> OutboxStatus | None:
        """Replace the alert of a row not yet handed to a sender (pending or held).

        Returns the row's status (``pending``/``held`` when replaced; ``claimed``/``sent``/...
        when it was too late), or None when no row has this key.
        """
        async with self.engine.begin() as conn:
            row = (
                await conn.execute(
                    sa.update(t.outbox)
                    .where(t.outbox.c.key == key, t.outbox.c.status.in_(("pending", "held")))
                    .values(payload=alert_to_dict(alert))
                    .returning(t.outbox.c.status)
                )
            ).first()
            if row is None:
                row = (await conn.execute(sa.select(t.outbox.c.status).where(t.outbox.c.key == key))).first()
        return row.status if row is not None else None

    async def sent_ref(self, key: str) -> MessageRef | None:
        """The message the row with this key became, if it was sent."""
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(t.outbox.c.payload, t.outbox.c.message_id, t.outbox.c.thread_id).where(
                        t.outbox.c.key == key, t.outbox.c.status == "sent"
                    )
                )
            ).first()
        return _sent_ref(row)

    async def story_deliveries(
        self, story_id: str, *, kinds: Sequence[str] = ("story",)
    ) -> list[OutboxEntry]:
        """Every alert of these kinds queued for a story (all subscriptions), in queue order, any status."""
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(t.outbox)
                    .where(t.outbox.c.story_id == story_id, t.outbox.c.kind.in_(list(kinds)))
                    .order_by(t.outbox.c.id)
                )
            ).all()
        return [_entry(r) for r in rows]

    async def held_entries(self, subscription_id: int | None = None) -> list[OutboxEntry]:
        """Alerts held (quiet hours, mutes, hourly caps), oldest first, without taking them."""
        q = sa.select(t.outbox).where(t.outbox.c.status == "held").order_by(t.outbox.c.id)
        if subscription_id is not None:
            q = q.where(t.outbox.c.subscription_id == subscription_id)
        async with self.engine.connect() as conn:
            return [_entry(r) for r in (await conn.execute(q)).all()]

    async def sent_message(self, *, story_id: str, subscription_id: int) -> MessageRef | None:
        """The message a story's alert became in a subscription's channel, if it was sent."""
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(t.outbox.c.payload, t.outbox.c.message_id, t.outbox.c.thread_id)
                    .where(
                        t.outbox.c.story_id == story_id,
                        t.outbox.c.subscription_id == subscription_id,
                        t.outbox.c.kind == "story",
                        t.outbox.c.status == "sent",
                    )
                    .order_by(t.outbox.c.id)
                    .limit(1)
                )
            ).first()
        return _sent_ref(row)

    async def count_sent_since(self, subscription_id: int, since: datetime) -> int:
        """How many alerts a subscription got since ``since`` (for ``max_per_hour``)."""
        async with self.engine.connect() as conn:
            return int(
                (
                    await conn.execute(
                        sa.select(sa.func.count())
                        .select_from(t.outbox)
                        .where(
                            t.outbox.c.subscription_id == subscription_id,
                            t.outbox.c.created_at >= since,
                            t.outbox.c.status.in_(("pending", "claimed", "sent")),
                        )
                    )
                ).scalar_one()
            )

    async def channel_stats(self) -> dict[int, ChannelStats]:
        """Queued / held / failed counts and last delivery per subscription."""
        counts: dict[int, dict[str, int]] = {}
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.select(t.outbox.c.subscription_id, t.outbox.c.status, sa.func.count())
                .where(
                    t.outbox.c.subscription_id.is_not(None),
                    t.outbox.c.status.in_(("pending", "claimed", "held", "failed")),
                )
                .group_by(t.outbox.c.subscription_id, t.outbox.c.status)
            )
            for sid, status, n in rows:
                counts.setdefault(sid, {})[status] = n
            subs = (
                await conn.execute(sa.select(t.subscriptions.c.id, t.subscriptions.c.last_delivery_at))
            ).all()
        out = {}
        for sid, last in subs:
            c = counts.get(sid, {})
            out[sid] = ChannelStats(
                subscription_id=sid,
                queued=c.get("pending", 0) + c.get("claimed", 0),
                held=c.get("held", 0),
                failed=c.get("failed", 0),
                last_delivery_at=last,
            )
        return out

    async def purge_outbox(self, *, before: datetime) -> int:
        """Delete sent, folded and dropped rows older than ``before`` (keys of older ones may recur)."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                sa.delete(t.outbox).where(
                    t.outbox.c.status.in_(("sent", "folded", "dropped")), t.outbox.c.created_at < before
                )
            )
        return int(result.rowcount or 0)

    # ------------------------------------------------------------ markers

    async def add_marker(self, key: str, *, now: datetime) -> bool:
        """Record that something happened; True only for the first caller (atomic)."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                self.insert_ignore(t.markers, ["key"]).values(key=key, created_at=now)
            )
        return bool(result.rowcount)

    async def has_marker(self, key: str) -> bool:
        async with self.engine.connect() as conn:
            return (
                await conn.execute(sa.select(t.markers.c.key).where(t.markers.c.key == key))
            ).first() is not None

"""Replicas on one database: heartbeats, named leases, feed claims and shared state versions.

PostgreSQL is the coordination engine; nothing else is needed. Every decision is one
statement whose ``WHERE`` clause says when it may happen, so that two replicas racing for the
same thing cannot both win:

- a lease (``leases`` row) is taken when it is free or expired, renewed only by its holder,
  and its ``token`` grows by one each time it changes hands (a fencing token);
- a batch of leases or feeds is claimed with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (rows
  another replica is claiming at this moment are skipped, never waited for) and new lease rows
  are inserted in sorted order, so concurrent claims cannot deadlock;
- a state version (``state_versions``) is a counter bumped in the transaction that changed the
  state; replicas compare it with the one they loaded.

On SQLite (one process, see ``bot.store.db.one_process``) the same statements run unchanged:
``FOR UPDATE`` is not rendered and the database has a single writer anyway.

Times come from the caller's clock (replicas' clocks are assumed to agree within a second or
so, as NTP keeps them); leases are measured in seconds to minutes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bot.domain.cluster import Lease, Replica
from bot.domain.records import FeedState
from bot.store import schema as t
from bot.store.base import StoreBase
from bot.store.news import feed_state

INGEST_LOCK = 0x6D6B7469  # "mkti": the ingest section's advisory lock (migrations use "mktb")


def _lease(row: Any) -> Lease:
    return Lease(
        name=row.name,
        holder=row.holder,
        acquired_at=row.acquired_at,
        expires_at=row.expires_at,
        token=row.token,
    )


def _replica(row: Any) -> Replica:
    return Replica(
        id=row.id,
        host=row.host,
        pid=row.pid,
        version=row.version,
        started_at=row.started_at,
        heartbeat_at=row.heartbeat_at,
        roles=tuple(r for r in row.roles.split(",") if r),
    )


def _replica_row(replica: Replica) -> dict[str, Any]:
    return {
        "id": replica.id,
        "host": replica.host[:200],
        "pid": replica.pid,
        "version": replica.version[:32],
        "roles": ",".join(replica.roles),
        "started_at": replica.started_at,
        "heartbeat_at": replica.heartbeat_at,
    }


class ClusterStore(StoreBase):
    """The replica-coordination half of ``bot.ports.Store``."""

    # ------------------------------------------------------------ replicas

    async def heartbeat(self, replica: Replica) -> None:
        """Insert or refresh this replica's row (``heartbeat_at``, ``roles``)."""
        stmt = self.upsert(t.replicas, ["id"], ["heartbeat_at", "roles", "version"])
        async with self.engine.begin() as conn:
            await conn.execute(stmt.values(**_replica_row(replica)))

    async def beat(self, replica: Replica, *, forget_before: datetime) -> list[Replica]:
        """A heartbeat in one transaction: ``heartbeat``, ``prune_replicas(before=forget_before)``
        and ``replicas()`` (every replica's row, oldest first), one connection and one commit."""
        stmt = self.upsert(t.replicas, ["id"], ["heartbeat_at", "roles", "version"])
        async with self.engine.begin() as conn:
            await conn.execute(stmt.values(**_replica_row(replica)))
            await conn.execute(sa.delete(t.replicas).where(t.replicas.c.heartbeat_at < forget_before))
            rows = (await conn.execute(sa.select(t.replicas).order_by(t.replicas.c.started_at))).all()
        return [_replica(r) for r in rows]

    async def replicas(self) -> list[Replica]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(sa.select(t.replicas).order_by(t.replicas.c.started_at))).all()
        return [_replica(r) for r in rows]

    async def forget_replica(self, replica_id: str) -> None:
        """A clean shutdown: drop the row and give up every lease and feed claim at once."""
        async with self.engine.begin() as conn:
            await conn.execute(sa.delete(t.replicas).where(t.replicas.c.id == replica_id))
            await conn.execute(sa.delete(t.leases).where(t.leases.c.holder == replica_id))
            await conn.execute(
                sa.update(t.feeds)
                .where(t.feeds.c.lease_holder == replica_id)
                .values(lease_holder=None, lease_until=None)
            )

    async def prune_replicas(self, *, before: datetime) -> int:
        """Forget replicas whose last heartbeat is older than ``before`` (dead for good)."""
        async with self.engine.begin() as conn:
            result = await conn.execute(sa.delete(t.replicas).where(t.replicas.c.heartbeat_at < before))
        return int(result.rowcount or 0)

    # ------------------------------------------------------------ named leases

    async def acquire_lease(self, name: str, holder: str, *, now: datetime, ttl: float) -> Lease | None:
        """Take the lease if it is free or expired, or renew it if ``holder`` has it.

        Returns the lease as now held by ``holder``, or None when someone else holds it.
        """
        got = await self.acquire_leases([name], holder, now=now, ttl=ttl)
        return got.get(name)

    async def acquire_leases(
        self, names: Iterable[str], holder: str, *, now: datetime, ttl: float
    ) -> dict[str, Lease]:
        """``acquire_lease`` for many names in one transaction; the ones ``holder`` now has."""
        wanted = sorted(set(names))
        if not wanted:
            return {}
        expires = now + timedelta(seconds=ttl)
        c = t.leases.c
        ours = c.holder == holder
        got: dict[str, Lease] = {}
        async with self.engine.begin() as conn:
            for chunk in _chunks(wanted, 500):
                claimable = (
                    sa.select(c.name)
                    .where(c.name.in_(chunk), sa.or_(ours, c.expires_at <= now))
                    .with_for_update(skip_locked=True)
                    .scalar_subquery()
                )
                rows = await conn.execute(
                    sa.update(t.leases)
                    .where(c.name.in_(claimable))
                    .values(
                        holder=holder,
                        expires_at=expires,
                        acquired_at=sa.case((ours, c.acquired_at), else_=now),
                        token=sa.case((ours, c.token), else_=c.token + 1),
                    )
                    .returning(*t.leases.c)
                )
                got.update((r.name, _lease(r)) for r in rows)
                missing = [n for n in chunk if n not in got]
                if missing:
                    rows = await conn.execute(
                        self.insert_ignore(t.leases, ["name"])
                        .values(
                            [
                                {
                                    "name": n,
                                    "holder": holder,
                                    "acquired_at": now,
                                    "expires_at": expires,
                                    "token": 1,
                                }
                                for n in missing
                            ]
                        )
                        .returning(*t.leases.c)
                    )
                    got.update((r.name, _lease(r)) for r in rows)
        return got

    async def release_lease(self, name: str, holder: str) -> bool:
        """Give the lease up (only its holder can); True when it was held."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                sa.delete(t.leases).where(t.leases.c.name == name, t.leases.c.holder == holder)
            )
        return bool(result.rowcount)

    async def leases(self, prefix: str = "") -> list[Lease]:
        query = sa.select(t.leases).order_by(t.leases.c.name)
        if prefix:
            query = query.where(t.leases.c.name.startswith(prefix, autoescape=True))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_lease(r) for r in rows]

    # ------------------------------------------------------------ feed claims

    async def claim_due_feeds(
        self,
        holder: str,
        *,
        now: datetime,
        ttl: float,
        limit: int,
        only: Sequence[str] | None = None,
        due_by: datetime | None = None,
        alive_since: datetime | None = None,
    ) -> list[FeedState]:
        """Claim up to ``limit`` due feeds for ``holder``; their stored states, most overdue first.

        The states are read in the claiming statement: the conditional-GET validators, backoff
        and disable state another replica saved are what this one polls with.

        Due: enabled, active and not disabled after failures, ``next_poll_at`` unset or reached, and not claimed (no claim,
        or its ``lease_until`` passed — a dead replica's feeds come back when their claims
        expire; a feed this holder claimed and is still polling is not returned again). ``only`` restricts the claim to those feed ids.
        With ``alive_since``, the claims of replicas whose last heartbeat is older are void too:
        a replica killed mid-poll gives its feeds back once it is seen dead, not a whole claim
        later.
        """
        if limit <= 0:
            return []
        c = t.feeds.c
        due = (
            sa.select(c.id)
            .where(
                c.enabled.is_(True),
                c.active.is_(True),
                c.disabled_reason.is_(None),
                sa.or_(
                    # never polled: due now, except for a claim of only the overdue ones
                    c.next_poll_at.is_(None) if due_by is None or due_by >= now else sa.false(),
                    # early only for a regular tick: a backoff or a server's Retry-After is kept exactly
                    c.next_poll_at <= sa.case((c.consecutive_failures > 0, now), else_=due_by or now),
                ),
                _claim_free(now, alive_since),
            )
            .order_by(c.next_poll_at.is_(None).desc(), c.next_poll_at, c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        if only is not None:
            due = due.where(c.id.in_(list(only)))
        async with self._one_statement() as conn:
            rows = await conn.execute(
                sa.update(t.feeds)
                .where(c.id.in_(due.scalar_subquery()))
                .values(lease_holder=holder, lease_until=now + timedelta(seconds=ttl))
                .returning(*t.feeds.c)
            )
            claimed = [feed_state(r) for r in rows]
        claimed.sort(key=lambda f: (f.next_poll_at is not None, f.next_poll_at or now, f.id))
        return claimed

    async def claim_feed(
        self, feed_id: str, holder: str, *, now: datetime, ttl: float, alive_since: datetime | None = None
    ) -> bool:
        """Claim one feed whatever its ``next_poll_at`` (a forced poll), unless a live replica has it."""
        c = t.feeds.c
        async with self._one_statement() as conn:
            result = await conn.execute(
                sa.update(t.feeds)
                .where(c.id == feed_id, sa.or_(_claim_free(now, alive_since), c.lease_holder == holder))
                .values(lease_holder=holder, lease_until=now + timedelta(seconds=ttl))
            )
        return bool(result.rowcount)

    @asynccontextmanager
    async def _one_statement(self) -> AsyncIterator[Any]:
        """A connection for one statement that is its own transaction (a claim).

        On PostgreSQL it runs in autocommit: no ``BEGIN``/``COMMIT`` round trips around it, and
        the statement is just as atomic (its ``FOR UPDATE SKIP LOCKED`` row locks last until it
        ends). SQLite keeps an explicit transaction (its in-memory database shares one connection).
        """
        if self.dialect != "postgresql":
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self.engine.connect() as conn:
            yield await conn.execution_options(isolation_level="AUTOCOMMIT")

    async def release_feeds(self, feed_ids: Sequence[str], holder: str) -> None:
        """Give claims back (the poll is done: its state, ``next_poll_at`` included, was saved)."""
        if not feed_ids:
            return
        c = t.feeds.c
        async with self.engine.begin() as conn:
            for chunk in _chunks(list(feed_ids), 500):
                await conn.execute(
                    sa.update(t.feeds)
                    .where(c.id.in_(chunk), c.lease_holder == holder)
                    .values(lease_holder=None, lease_until=None)
                )

    async def feed_claims(self) -> dict[str, int]:
        """How many feeds each replica holds a claim on now (for ``marketbot status``)."""
        c = t.feeds.c
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.select(c.lease_holder, sa.func.count())
                .where(c.lease_holder.is_not(None))
                .group_by(c.lease_holder)
            )
            return {r[0]: int(r[1]) for r in rows}

    # ------------------------------------------------------------ one story index for all replicas

    @asynccontextmanager
    async def ingest_section(self) -> AsyncIterator[None]:
        """Serialise dedup, clustering and storing of new items across replicas (PostgreSQL).

        A session advisory lock held on a connection of its own for the duration: a replica
        clusters a batch only after the stories other replicas stored before it are visible,
        so two copies of one event fetched at once by two replicas become one story. SQLite
        is one process: nothing to do.
        """
        if self.dialect != "postgresql":
            yield
            return
        async with self.engine.connect() as conn:
            await conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": INGEST_LOCK})
            await conn.commit()  # the lock is the session's; no transaction stays open with it
            try:
                yield
            finally:
                await conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": INGEST_LOCK})
                await conn.commit()

    # ------------------------------------------------------------ what `marketbot status` shows

    async def outbox_backlog(self, *, now: datetime) -> dict[str, tuple[int, float]]:
        """Per outbox status still to do (pending, claimed, held): (rows, age in seconds of the oldest
        row's due time, 0 when none is overdue)."""
        c = t.outbox.c
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.select(c.status, sa.func.count(), sa.func.min(c.due_at, type_=t.UTCDateTime))
                .where(c.status.in_(("pending", "claimed", "held")))
                .group_by(c.status)
            )
            out: dict[str, tuple[int, float]] = {}
            for status, count, oldest in rows:
                age = 0.0
                if oldest is not None:
                    age = max((now - oldest).total_seconds(), 0.0)
                out[status] = (int(count), age)
        return out

    # ------------------------------------------------------------ state versions

    async def bump_version(self, name: str, *, now: datetime, conn: Any = None) -> int:
        """Count one change of ``name`` (e.g. "catalog"); returns the new version.

        Pass ``conn`` to bump inside the transaction that made the change.
        """
        if conn is not None:
            return await self._bump_version(conn, name, now)
        async with self.engine.begin() as own:
            return await self._bump_version(own, name, now)

    async def version(self, name: str) -> int:
        """The current version of ``name`` (0 when it never changed)."""
        async with self.engine.connect() as conn:
            value = await conn.scalar(
                sa.select(t.state_versions.c.version).where(t.state_versions.c.name == name)
            )
        return int(value or 0)


def _claim_free(now: datetime, alive_since: datetime | None) -> Any:
    """A feed's claim is free: none, expired, or (with ``alive_since``) held by a dead replica."""
    c = t.feeds.c
    free = [c.lease_holder.is_(None), c.lease_until.is_(None), c.lease_until <= now]
    if alive_since is not None:
        live = sa.select(t.replicas.c.id).where(t.replicas.c.heartbeat_at >= alive_since)
        free.append(c.lease_holder.not_in(live))
    return sa.or_(*free)


def _chunks(values: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]

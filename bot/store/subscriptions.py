"""Chat-created watchlists and every subscription (config ones mirrored, to carry their state)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from bot.domain.cluster import CATALOG_VERSION
from bot.domain.codec import options_from_dict, options_to_dict
from bot.domain.errors import ValidationError
from bot.domain.models import ChannelRef, Subscription, SubscriptionOptions, Watchlist
from bot.domain.records import SubscriptionSpec
from bot.store import schema as t
from bot.store.base import StoreBase


def _now() -> datetime:
    return datetime.now(UTC)


def _watchlist(row: Any) -> Watchlist:
    return Watchlist(
        name=row.name,
        scope=row.scope,
        tickers=tuple(row.tickers or ()),
        keywords=tuple(row.keywords or ()),
        exclude=tuple(row.exclude or ()),
        match=row.match,
        query=row.query,
        created_by=row.created_by,
    )


def _subscription(row: Any) -> Subscription:
    return Subscription(
        id=row.id,
        watchlist=row.watchlist,
        scope=row.scope,
        channel=ChannelRef(row.platform, row.channel, row.workspace),
        options=options_from_dict(row.options),
        origin=row.origin,
        state=row.state,
        broken_reason=row.broken_reason,
        created_by=row.created_by,
    )


class SubscriptionStore(StoreBase):
    """Watchlists and subscriptions half of ``bot.ports.Store``."""

    # ------------------------------------------------------------ watchlists

    async def list_watchlists(self, scope: str | None = None) -> list[Watchlist]:
        q = sa.select(t.watchlists).order_by(t.watchlists.c.scope, t.watchlists.c.name_key)
        if scope is not None:
            q = q.where(t.watchlists.c.scope == scope)
        async with self.engine.connect() as conn:
            return [_watchlist(r) for r in (await conn.execute(q)).all()]

    async def get_watchlist(self, scope: str, name: str) -> Watchlist | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(t.watchlists).where(
                        t.watchlists.c.scope == scope, t.watchlists.c.name_key == name.lower()
                    )
                )
            ).first()
        return _watchlist(row) if row else None

    async def save_watchlist(self, watchlist: Watchlist) -> None:
        """Create or replace the watchlist with this scope and (case-insensitive) name."""
        if watchlist.read_only:
            raise ValidationError(f"watchlist {watchlist.name!r} comes from the config file; edit it there")
        now = _now()
        values = {
            "name": watchlist.name,
            "tickers": list(watchlist.tickers),
            "keywords": list(watchlist.keywords),
            "exclude": list(watchlist.exclude),
            "match": watchlist.match,
            "query": watchlist.query,
            "updated_at": now,
        }
        # one statement: two replicas (or two people) saving the same name at once cannot
        # collide on the unique key; the later write wins and both see it
        stmt = self.upsert(t.watchlists, ["scope", "name_key"], list(values))
        async with self.engine.begin() as conn:
            await conn.execute(
                stmt.values(
                    scope=watchlist.scope,
                    name_key=watchlist.name.lower(),
                    created_by=watchlist.created_by,
                    created_at=now,
                    **values,
                )
            )
            await self._bump_version(conn, CATALOG_VERSION, now)

    async def create_watchlist(self, watchlist: Watchlist) -> bool:
        """Store a new watchlist; False (nothing changed) when this scope already has the name.

        One ``INSERT … ON CONFLICT DO NOTHING``: of two replicas (or two people) creating the
        same name at once, exactly one gets True and the other a clean False, never a unique-key
        error.
        """
        if watchlist.read_only:
            raise ValidationError(f"watchlist {watchlist.name!r} comes from the config file; edit it there")
        now = _now()
        stmt = self.insert_ignore(t.watchlists, ["scope", "name_key"]).values(
            scope=watchlist.scope,
            name_key=watchlist.name.lower(),
            name=watchlist.name,
            tickers=list(watchlist.tickers),
            keywords=list(watchlist.keywords),
            exclude=list(watchlist.exclude),
            match=watchlist.match,
            query=watchlist.query,
            created_by=watchlist.created_by,
            created_at=now,
            updated_at=now,
        )
        async with self.engine.begin() as conn:
            created = (await conn.execute(stmt.returning(t.watchlists.c.name_key))).first() is not None
            if created:
                await self._bump_version(conn, CATALOG_VERSION, now)
        return created

    async def update_watchlist(
        self, scope: str, name: str, change: Callable[[Watchlist], Watchlist | None]
    ) -> tuple[Watchlist, Watchlist | None] | None:
        """Edit the stored watchlist from the database's copy, under its row lock.

        ``change(current)`` gets the watchlist as stored now (not a replica's cached catalog)
        and returns the new version, or None to leave it as it is; an exception from it rolls
        the edit back. Two edits of one watchlist at once (two replicas, two people) run one
        after the other, each on what the other saved, so neither is lost. Returns
        ``(before, after)`` (``after`` None when unchanged), or None when there is no such
        watchlist (deleted meanwhile).
        """
        c = t.watchlists.c
        async with self.engine.begin() as conn:
            row = (
                await conn.execute(
                    sa.select(t.watchlists)
                    .where(c.scope == scope, c.name_key == name.lower())
                    .with_for_update()
                )
            ).first()
            if row is None:
                return None
            before = _watchlist(row)
            after = change(before)
            if after is None:
                return before, None
            if after.scope != before.scope or after.name.lower() != before.name.lower():
                raise ValidationError("an edit cannot rename a watchlist or move it to another scope")
            now = _now()
            await conn.execute(
                sa.update(t.watchlists)
                .where(c.scope == scope, c.name_key == name.lower())
                .values(
                    tickers=list(after.tickers),
                    keywords=list(after.keywords),
                    exclude=list(after.exclude),
                    match=after.match,
                    query=after.query,
                    updated_at=now,
                )
            )
            await self._bump_version(conn, CATALOG_VERSION, now)
        return before, after

    async def delete_watchlist(self, scope: str, name: str) -> bool:
        """Delete a chat watchlist and the subscriptions to it; False if there was none."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                sa.delete(t.watchlists).where(
                    t.watchlists.c.scope == scope, t.watchlists.c.name_key == name.lower()
                )
            )
            if result.rowcount:
                await conn.execute(
                    sa.delete(t.subscriptions).where(
                        t.subscriptions.c.scope == scope,
                        sa.func.lower(t.subscriptions.c.watchlist) == name.lower(),
                    )
                )
                await self._bump_version(conn, CATALOG_VERSION, _now())
            return bool(result.rowcount)

    # ------------------------------------------------------------ subscriptions

    async def sync_config_subscriptions(self, specs: Sequence[SubscriptionSpec]) -> None:
        """Mirror the config's subscriptions: add new ones, update options, remove dropped ones.

        State (broken, last delivery) survives restarts; a subscription whose options changed
        in the config is considered fixed and goes back to active.
        """
        now = _now()
        async with self.engine.begin() as conn:
            rows = (
                await conn.execute(sa.select(t.subscriptions).where(t.subscriptions.c.origin == "config"))
            ).all()
            existing = {(r.platform, r.channel, r.scope, r.watchlist): r for r in rows}
            wanted = set()
            for spec in specs:
                key = (spec.channel.platform, spec.channel.channel, spec.scope, spec.watchlist)
                wanted.add(key)
                opts = options_to_dict(spec.options)
                row = existing.get(key)
                if row is None:
                    await conn.execute(
                        self.insert_ignore(
                            t.subscriptions, ["platform", "channel", "scope", "watchlist"]
                        ).values(
                            scope=spec.scope,
                            watchlist=spec.watchlist,
                            platform=spec.channel.platform,
                            channel=spec.channel.channel,
                            workspace=spec.channel.workspace,
                            options=opts,
                            origin="config",
                            state="active",
                            created_at=now,
                        )
                    )
                    continue
                if spec.options.mute_until is None and (row.options or {}).get("mute_until"):
                    opts["mute_until"] = row.options["mute_until"]  # a mute set from chat survives restarts
                if row.options != opts:
                    await conn.execute(
                        sa.update(t.subscriptions)
                        .where(t.subscriptions.c.id == row.id)
                        .values(options=opts, state="active", broken_reason=None)
                    )
            gone = [r.id for k, r in existing.items() if k not in wanted]
            if gone:
                await conn.execute(sa.delete(t.subscriptions).where(t.subscriptions.c.id.in_(gone)))

    async def list_subscriptions(
        self, *, channel: ChannelRef | None = None, watchlist: str | None = None, scope: str | None = None
    ) -> list[Subscription]:
        q = sa.select(t.subscriptions).order_by(t.subscriptions.c.id)
        if channel is not None:
            q = q.where(
                t.subscriptions.c.platform == channel.platform, t.subscriptions.c.channel == channel.channel
            )
        if watchlist is not None:
            q = q.where(sa.func.lower(t.subscriptions.c.watchlist) == watchlist.lower())
        if scope is not None:
            q = q.where(t.subscriptions.c.scope == scope)
        async with self.engine.connect() as conn:
            return [_subscription(r) for r in (await conn.execute(q)).all()]

    async def get_subscription(self, subscription_id: int) -> Subscription | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(sa.select(t.subscriptions).where(t.subscriptions.c.id == subscription_id))
            ).first()
        return _subscription(row) if row else None

    async def get_subscriptions(self, subscription_ids: Sequence[int]) -> dict[int, Subscription]:
        """Many subscriptions by id in one query (missing ids are left out)."""
        ids = sorted(set(subscription_ids))
        out: dict[int, Subscription] = {}
        if not ids:
            return out
        async with self.engine.connect() as conn:
            for i in range(0, len(ids), 500):
                q = sa.select(t.subscriptions).where(t.subscriptions.c.id.in_(ids[i : i + 500]))
                for row in (await conn.execute(q)).all():
                    out[row.id] = _subscription(row)
        return out

    async def add_subscription(
        self, spec: SubscriptionSpec, *, created_by: str | None = None
    ) -> Subscription:
        """Subscribe a channel; if it already is, update its options and return it (idempotent)."""
        now = _now()
        cond = (
            t.subscriptions.c.platform == spec.channel.platform,
            t.subscriptions.c.channel == spec.channel.channel,
            t.subscriptions.c.scope == spec.scope,
            sa.func.lower(t.subscriptions.c.watchlist) == spec.watchlist.lower(),
        )
        async with self.engine.begin() as conn:
            row = (await conn.execute(sa.select(t.subscriptions).where(*cond))).first()
            if row is None:
                # ON CONFLICT DO NOTHING: a concurrent subscribe (another replica) that won the
                # race is the same outcome, and the transaction stays usable (an IntegrityError
                # would abort it on PostgreSQL)
                await conn.execute(
                    self.insert_ignore(t.subscriptions, ["platform", "channel", "scope", "watchlist"]).values(
                        scope=spec.scope,
                        watchlist=spec.watchlist,
                        platform=spec.channel.platform,
                        channel=spec.channel.channel,
                        workspace=spec.channel.workspace,
                        options=options_to_dict(spec.options),
                        origin="chat",
                        state="active",
                        created_by=created_by,
                        created_at=now,
                    )
                )
            else:
                await conn.execute(
                    sa.update(t.subscriptions)
                    .where(t.subscriptions.c.id == row.id)
                    .values(options=options_to_dict(spec.options), state="active", broken_reason=None)
                )
            row = (await conn.execute(sa.select(t.subscriptions).where(*cond))).one()
        return _subscription(row)

    async def remove_subscription(self, *, channel: ChannelRef, scope: str, watchlist: str) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                sa.delete(t.subscriptions).where(
                    t.subscriptions.c.platform == channel.platform,
                    t.subscriptions.c.channel == channel.channel,
                    t.subscriptions.c.scope == scope,
                    sa.func.lower(t.subscriptions.c.watchlist) == watchlist.lower(),
                )
            )
        return bool(result.rowcount)

    async def update_subscription_options(self, subscription_id: int, options: SubscriptionOptions) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.update(t.subscriptions)
                .where(t.subscriptions.c.id == subscription_id)
                .values(options=options_to_dict(options))
            )

    async def mark_subscription_broken(self, subscription_id: int, reason: str | None) -> None:
        """Mark broken with a reason (``None`` repairs it: back to active)."""
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.update(t.subscriptions)
                .where(t.subscriptions.c.id == subscription_id)
                .values(state="broken" if reason else "active", broken_reason=reason)
            )

"""Feeds added from chat or the CLI (``/feed add``), scoped to a workspace or guild.

Every change counts one change of the catalog version, so every replica reloads its catalog
(and with it the poller's list of feeds) through the same follow mechanism as watchlists.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from bot.domain.cluster import CATALOG_VERSION
from bot.domain.records import ChatFeed, ChatFeedAdd
from bot.store import schema as t
from bot.store.base import StoreBase


def _feed(row: Any) -> ChatFeed:
    return ChatFeed(
        scope=row.scope,
        name=row.name,
        url=row.url,
        feed_id=row.feed_id,
        interval=int(row.interval),
        added_by=row.added_by,
        added_at=row.added_at,
    )


class ChatFeedStore(StoreBase):
    """The chat-feeds part of ``bot.ports.Store``."""

    async def list_chat_feeds(self, scope: str | None = None) -> list[ChatFeed]:
        """Chat feeds by scope and name (every scope's when ``scope`` is None)."""
        c = t.chat_feeds.c
        q = sa.select(t.chat_feeds).order_by(c.scope, c.name_key)
        if scope is not None:
            q = q.where(c.scope == scope)
        async with self.engine.connect() as conn:
            return [_feed(r) for r in (await conn.execute(q)).all()]

    async def add_chat_feed(self, feed: ChatFeed, *, limit: int) -> ChatFeedAdd:
        """Store ``feed``; refuses a taken name or URL in its scope, or a scope at ``limit``.

        One conditional ``INSERT … SELECT … WHERE (count of the scope) < limit ON CONFLICT DO
        NOTHING``: the check happens where the row is written (SQLite writes one at a time), and
        on PostgreSQL a transaction lock per scope serialises adds, so two admins (or replicas)
        adding at once can pass neither the limit nor the unique name and URL.
        """
        c = t.chat_feeds.c
        async with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                await conn.execute(
                    sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(f"chat_feeds:{feed.scope}")))
                )
            values = {
                "scope": feed.scope,
                "name": feed.name,
                "name_key": feed.name.lower(),
                "url": feed.url,
                "feed_id": feed.feed_id,
                "interval": int(feed.interval),
                "added_by": feed.added_by,
                "added_at": feed.added_at,
            }
            count = sa.select(sa.func.count()).select_from(t.chat_feeds).where(c.scope == feed.scope)
            source = sa.select(*(sa.literal(v, type_=c[k].type).label(k) for k, v in values.items())).where(
                count.scalar_subquery() < limit
            )
            insert: Any = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
            # no conflict target: a name or a URL added meanwhile is skipped alike (told apart below)
            stmt = insert(t.chat_feeds).from_select(list(values), source).on_conflict_do_nothing()
            if (await conn.execute(stmt.returning(c.id))).first() is None:
                rows = (
                    await conn.execute(sa.select(c.name_key, c.feed_id).where(c.scope == feed.scope))
                ).all()
                if any(r.name_key == feed.name.lower() for r in rows):
                    return "name-taken"
                if any(r.feed_id == feed.feed_id for r in rows):
                    return "url-taken"
                return "limit"
            await self._bump_version(conn, CATALOG_VERSION, datetime.now(UTC))
        return "added"

    async def remove_chat_feed(self, scope: str, name: str) -> ChatFeed | None:
        """Remove a chat feed by (case-insensitive) name; the removed feed, or None."""
        c = t.chat_feeds.c
        where = sa.and_(c.scope == scope, c.name_key == name.lower())
        async with self.engine.begin() as conn:
            row = (await conn.execute(sa.select(t.chat_feeds).where(where))).first()
            if row is None:
                return None
            await conn.execute(sa.delete(t.chat_feeds).where(where))
            await self._bump_version(conn, CATALOG_VERSION, datetime.now(UTC))
        return _feed(row)

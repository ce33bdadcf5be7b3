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
from bot.ports import ChatFeed, ChatFeedAdd
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

        The count and the insert share one transaction (on PostgreSQL the scope's rows are
        locked first), so two admins adding at once cannot pass the limit together.
        """
        c = t.chat_feeds.c
        async with self.engine.begin() as conn:
            q = sa.select(c.name_key, c.feed_id).where(c.scope == feed.scope)
            if self.dialect == "postgresql":
                q = q.with_for_update()
            rows = (await conn.execute(q)).all()
            if any(r.name_key == feed.name.lower() for r in rows):
                return "name-taken"
            if any(r.feed_id == feed.feed_id for r in rows):
                return "url-taken"
            if len(rows) >= limit:
                return "limit"
            # no conflict target: a name or a URL added meanwhile (another replica) is skipped alike
            insert: Any = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
            stmt = (
                insert(t.chat_feeds)
                .on_conflict_do_nothing()
                .values(
                    scope=feed.scope,
                    name=feed.name,
                    name_key=feed.name.lower(),
                    url=feed.url,
                    feed_id=feed.feed_id,
                    interval=int(feed.interval),
                    added_by=feed.added_by,
                    added_at=feed.added_at,
                )
            )
            if (await conn.execute(stmt.returning(c.id))).first() is None:
                return "name-taken"  # added by someone else meanwhile: the first one wins
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

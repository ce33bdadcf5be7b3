"""Operator notices' bookkeeping, kept as markers: which problems were announced and are still open.

``notice:open:<thing>`` exists from the notice that announced a problem until the one that
announced its recovery; ``notice:sent:...`` and ``notice:msg:...`` markers enforce "at most one
per thing per day" and the daily cap. Retention purges old markers like any others: a problem
still open after the retention period is announced again, as a reminder.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from bot.store import schema as t
from bot.store.base import StoreBase

OPEN = "notice:open:"


class NoticeStore(StoreBase):
    """The notice half of ``bot.ports.Store``."""

    async def open_notices(self) -> dict[str, datetime]:
        """Announced problems not yet announced as recovered: thing -> when announced."""
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(t.markers.c.key, t.markers.c.created_at).where(t.markers.c.key.startswith(OPEN))
                )
            ).all()
        return {r.key[len(OPEN) :]: r.created_at for r in rows}

    async def set_notice_open(self, thing: str, *, now: datetime, is_open: bool) -> None:
        """Record that ``thing``'s problem was announced (``is_open``) or its recovery was."""
        key = OPEN + thing
        async with self.engine.begin() as conn:
            if is_open:
                await conn.execute(
                    self.insert_ignore(t.markers, ["key"]).values(key=key[:255], created_at=now)
                )
            else:
                await conn.execute(sa.delete(t.markers).where(t.markers.c.key == key[:255]))

    async def count_markers(self, prefix: str) -> int:
        async with self.engine.connect() as conn:
            return int(
                (
                    await conn.execute(
                        sa.select(sa.func.count())
                        .select_from(t.markers)
                        .where(t.markers.c.key.startswith(prefix))
                    )
                ).scalar_one()
            )

"""What every store module shares: the engine and dialect-aware statements."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store import schema as t


class StoreBase:
    """Holds the engine; store modules add domain operations as mixins on top."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    def insert_ignore(self, table: sa.Table, conflict: list[str]) -> Any:
        """``INSERT ... ON CONFLICT (conflict) DO NOTHING`` for this dialect."""
        if self.dialect == "postgresql":
            return postgresql.insert(table).on_conflict_do_nothing(index_elements=conflict)
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=conflict)

    def upsert(self, table: sa.Table, conflict: list[str], update: list[str]) -> Any:
        """``INSERT ... ON CONFLICT (conflict) DO UPDATE SET update = excluded.update``."""
        stmt: Any = postgresql.insert(table) if self.dialect == "postgresql" else sqlite.insert(table)
        return stmt.on_conflict_do_update(
            index_elements=conflict, set_={c: getattr(stmt.excluded, c) for c in update}
        )

    async def _bump_version(self, conn: Any, name: str, now: datetime) -> int:
        """Count one change of the shared state ``name`` inside the caller's transaction."""
        c = t.state_versions.c
        await conn.execute(
            self.insert_ignore(t.state_versions, ["name"]).values(name=name, version=0, changed_at=now)
        )
        row = (
            await conn.execute(
                sa.update(t.state_versions)
                .where(c.name == name)
                .values(version=c.version + 1, changed_at=now)
                .returning(c.version)
            )
        ).one()
        return int(row.version)

"""What every store module shares: the engine and dialect-aware statements."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine


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

"""The symbol directory's store: company names per symbol and source, and refresh state.

SEC's company list (about 10,000 issuers) is replaced by difference, so a daily refresh that
changes nothing writes nothing; quote names are replaced per symbol.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bot.domain.rules.symbols import NameRefresh, SymbolName
from bot.store import schema as t
from bot.store.base import StoreBase

_CHUNK = 500


def _refresh(row: Any) -> NameRefresh:
    return NameRefresh(
        key=row.key,
        checked_at=row.checked_at,
        succeeded_at=row.succeeded_at,
        etag=row.etag,
        last_modified=row.last_modified,
        status=row.status or "",
    )


class SymbolNameStore(StoreBase):
    """Names of listed companies by source (``bot.market.symbols`` keeps them fresh)."""

    async def symbol_names(self, *, source: str | None = None, symbol: str | None = None) -> list[SymbolName]:
        """Stored names, optionally of one source and/or one symbol, in a stable order."""
        c = t.symbol_names.c
        q = sa.select(c.symbol, c.name, c.source, c.ident).order_by(c.source, c.symbol, c.name)
        if source is not None:
            q = q.where(c.source == source)
        if symbol is not None:
            q = q.where(c.symbol == symbol)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q)).all()
        return [SymbolName(r.symbol, r.name, r.source, r.ident) for r in rows]

    async def replace_symbol_names(
        self,
        source: str,
        names: Sequence[SymbolName],
        *,
        symbols: Sequence[str] | None = None,
        now: datetime,
    ) -> int:
        """Make the stored names of ``source`` equal to ``names``: all of them, or only those of
        ``symbols`` when given. Returns how many rows were added or removed (0: no change)."""
        c = t.symbol_names.c
        wanted = {(n.symbol, n.name[:200]): n for n in names if n.source == source}
        q = sa.select(c.symbol, c.name, c.ident).where(c.source == source)
        async with self.engine.begin() as conn:
            if symbols is None:
                existing = (await conn.execute(q)).all()
            else:
                existing = []
                listed = list(dict.fromkeys(symbols))
                for i in range(0, len(listed), _CHUNK):
                    part = listed[i : i + _CHUNK]
                    existing += (await conn.execute(q.where(c.symbol.in_(part)))).all()
            have = {(r.symbol, r.name): r.ident for r in existing}
            gone = [k for k in have if k not in wanted or wanted[k].ident != have[k]]
            new = [n for k, n in wanted.items() if k not in have or have[k] != n.ident]
            for i in range(0, len(gone), _CHUNK):
                pairs = gone[i : i + _CHUNK]
                await conn.execute(
                    t.symbol_names.delete().where(c.source == source, sa.tuple_(c.symbol, c.name).in_(pairs))
                )
            for i in range(0, len(new), _CHUNK):
                rows = [
                    {
                        "source": source,
                        "symbol": n.symbol,
                        "name": n.name[:200],
                        "ident": n.ident,
                        "updated_at": now,
                    }
                    for n in new[i : i + _CHUNK]
                ]
                # two replicas refreshing at once store the same names: the second write updates
                await conn.execute(
                    self.upsert(t.symbol_names, ["source", "symbol", "name"], ["ident", "updated_at"]), rows
                )
        return len(gone) + len(new)

    async def symbol_refreshes(self, prefix: str = "") -> dict[str, NameRefresh]:
        """Refresh state of every source whose key starts with ``prefix`` ("quote:")."""
        c = t.symbol_refresh.c
        q = sa.select(t.symbol_refresh)
        if prefix:
            q = q.where(c.key.startswith(prefix, autoescape=True))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q)).all()
        return {r.key: _refresh(r) for r in rows}

    async def save_symbol_refreshes(self, states: Sequence[NameRefresh]) -> None:
        """Record refresh attempts (insert or update by key)."""
        if not states:
            return
        stmt = self.upsert(
            t.symbol_refresh, ["key"], ["checked_at", "succeeded_at", "etag", "last_modified", "status"]
        )
        rows = [
            {
                "key": s.key,
                "checked_at": s.checked_at,
                "succeeded_at": s.succeeded_at,
                "etag": s.etag,
                "last_modified": s.last_modified,
                "status": s.status,
            }
            for s in states
        ]
        async with self.engine.begin() as conn:
            for i in range(0, len(rows), _CHUNK):
                await conn.execute(stmt, rows[i : i + _CHUNK])

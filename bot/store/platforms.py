"""Paused platforms: a chat platform that rejects the bot's credentials holds its alerts back.

A pause is one row per platform (what was refused, what to fix, since when, how often it was
re-checked), so every process and ``marketbot subscriptions`` sees it. Alerts that were
claimed while the platform was paused go back to the queue untried (``defer_paused``): their
attempts and retry window start again, because a pause is never an alert's fault; resuming
makes them due at once, in their original order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bot.domain.records import PlatformPause
from bot.store import schema as t
from bot.store.base import StoreBase

PAUSED_PREFIX = "paused: "


def _pause(row: Any) -> PlatformPause:
    return PlatformPause(
        platform=row.platform,
        code=row.code,
        reason=row.reason,
        setting=row.setting,
        since=row.since,
        checked_at=row.checked_at,
        checks=row.checks,
    )


class PlatformStore(StoreBase):
    """The paused-platform half of ``bot.ports.Store``."""

    async def pause_platform(self, pause: PlatformPause) -> bool:
        """Record a pause, or update an existing one's reason and re-check count (``since`` is kept).

        True when the platform was not paused before (the caller announces it once).
        """
        values = {
            "code": pause.code[:64],
            "reason": pause.reason,
            "setting": pause.setting[:64],
            "checked_at": pause.checked_at,
            "checks": pause.checks,
        }
        async with self.engine.begin() as conn:
            inserted = await conn.execute(
                self.insert_ignore(t.platform_pauses, ["platform"]).values(
                    platform=pause.platform, since=pause.since, **values
                )
            )
            if inserted.rowcount:
                return True
            await conn.execute(
                sa.update(t.platform_pauses)
                .where(t.platform_pauses.c.platform == pause.platform)
                .values(**values)
            )
        return False

    async def platform_pauses(self) -> dict[str, PlatformPause]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(sa.select(t.platform_pauses))).all()
        return {r.platform: _pause(r) for r in rows}

    async def resume_platform(self, platform: str, *, now: datetime) -> int:
        """Clear the pause; the platform's deferred alerts become due now. Returns how many."""
        async with self.engine.begin() as conn:
            await conn.execute(sa.delete(t.platform_pauses).where(t.platform_pauses.c.platform == platform))
            result = await conn.execute(
                sa.update(t.outbox)
                .where(
                    t.outbox.c.status == "pending",
                    t.outbox.c.channel.like(f"{platform}:%"),
                    t.outbox.c.last_error.like(f"{PAUSED_PREFIX}%"),
                    t.outbox.c.due_at > now,
                )
                .values(due_at=now)
            )
        return int(result.rowcount or 0)

    async def defer_paused(self, entry_id: int, *, due_at: datetime, error: str) -> None:
        """Give a claimed row back untried (attempts and the retry window start again)."""
        text = error if error.startswith(PAUSED_PREFIX) else PAUSED_PREFIX + error
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.update(t.outbox)
                .where(t.outbox.c.id == entry_id, t.outbox.c.status.in_(("pending", "claimed")))
                .values(
                    status="pending",
                    due_at=due_at,
                    last_error=text[:2000],
                    claimed_until=None,
                    claimed_by=None,
                    attempts=0,
                    first_attempt_at=None,
                )
            )

"""Retention: what is older than ``retention`` is deleted, in small batches, without losing dedup.

``purge(before=...)`` deletes, ``batch`` rows per transaction and pausing between transactions
(so the bot's own writes — a poll, a claim — are never held up for long, on SQLite's single
writer least of all):

* finished outbox rows (sent, folded, dropped, failed) created before the cut-off;
* markers created before it (briefing/threshold/follow-up/notice markers are all dated);
* items first fetched before it — except those their feed still serves: an item seen within
  a day of its feed's latest response (so every item of that response) is kept however old,
  so it can never come back as new. The store knows from ``items.last_seen_at``, refreshed
  (daily at most) whenever a response contains the item (``NewsStore.unseen_items``); a feed
  that answers 304 for weeks keeps its last response. Items of feeds no longer configured
  serve nothing and go by age alone;
* stories first seen before it that no item refers to any more and that no unsent alert needs,
  with their sources and tickers;
* feeds the config dropped (inactive) that were not polled within the period and have no items.

It never touches pending, claimed or held alerts, subscriptions, watchlists or paused platforms.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bot.store import schema as t
from bot.store.base import StoreBase
from bot.store.news import SEEN_REFRESH

log = logging.getLogger(__name__)

BATCH = 1000
FINISHED = ("sent", "folded", "dropped", "failed")
UNSENT = ("pending", "claimed", "held")


@dataclass(slots=True)
class PurgeReport:
    """Rows deleted by one ``purge``, by table, and how it went."""

    outbox: int = 0
    markers: int = 0
    items: int = 0
    stories: int = 0
    story_sources: int = 0
    story_tickers: int = 0
    feeds: int = 0
    batches: int = 0
    seconds: float = 0.0
    complete: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return (
            self.outbox
            + self.markers
            + self.items
            + self.stories
            + self.story_sources
            + self.story_tickers
            + self.feeds
        )

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}


class RetentionStore(StoreBase):
    """The retention half of ``bot.ports.Store``."""

    async def purge(
        self,
        *,
        before: datetime,
        batch: int = BATCH,
        pause: float = 0.0,
        deadline: float | None = None,
    ) -> PurgeReport:
        """Delete what is older than ``before`` (see the module docstring), ``batch`` rows a transaction.

        Between transactions it sleeps ``pause`` seconds (at least yields to the event loop).
        ``deadline`` (seconds) stops early, leaving the rest for the next run (``complete`` False).
        """
        report = PurgeReport()
        started = time.monotonic()

        def out_of_time() -> bool:
            return deadline is not None and time.monotonic() - started > deadline

        async def rest() -> None:
            report.batches += 1
            await asyncio.sleep(pause)

        steps = (
            ("outbox", self._purge_outbox_batch),
            ("markers", self._purge_markers_batch),
            ("items", self._purge_items_batch),
            ("stories", self._purge_stories_batch),
            ("feeds", self._purge_feeds_batch),
        )
        for _name, step in steps:
            while True:
                if out_of_time():
                    report.complete = False
                    report.seconds = time.monotonic() - started
                    return report
                done = await step(before, batch, report)
                await rest()
                if done < batch:
                    break
        report.seconds = time.monotonic() - started
        return report

    # ------------------------------------------------------------ one batch of each

    async def _delete_picked(self, pick: sa.Select[Any], key: sa.Column[Any]) -> int:
        """Delete, in one transaction, the rows of ``key``'s table whose ``key`` ``pick`` selects
        (one column, the key); returns how many went."""
        async with self.engine.begin() as conn:
            keys = [r[0] for r in (await conn.execute(pick)).all()]
            if keys:
                await conn.execute(sa.delete(key.table).where(key.in_(keys)))
        return len(keys)

    async def _purge_outbox_batch(self, before: datetime, batch: int, report: PurgeReport) -> int:
        pick = (
            sa.select(t.outbox.c.id)
            .where(t.outbox.c.created_at < before, t.outbox.c.status.in_(FINISHED))
            .limit(batch)
        )
        deleted = await self._delete_picked(pick, t.outbox.c.id)
        report.outbox += deleted
        return deleted

    async def _purge_markers_batch(self, before: datetime, batch: int, report: PurgeReport) -> int:
        pick = sa.select(t.markers.c.key).where(t.markers.c.created_at < before).limit(batch)
        deleted = await self._delete_picked(pick, t.markers.c.key)
        report.markers += deleted
        return deleted

    async def _item_limits(self, before: datetime) -> dict[str, datetime | None]:
        """Per feed with items older than ``before``: the ``last_seen_at`` an item must be older
        than to go. An active feed keeps what it served within ``SEEN_REFRESH`` of its newest
        response, which includes its whole latest response (refreshes are at most daily);
        a feed no longer configured serves nothing, so its items go by age alone (None).
        """
        newest = sa.func.max(sa.func.coalesce(t.items.c.last_seen_at, t.items.c.fetched_at))
        async with self.engine.connect() as conn:
            active = {
                r.id for r in (await conn.execute(sa.select(t.feeds.c.id).where(t.feeds.c.active))).all()
            }
            rows = (
                await conn.execute(
                    sa.select(t.items.c.feed_id, newest)
                    .group_by(t.items.c.feed_id)
                    .having(sa.func.min(t.items.c.fetched_at) < before)
                )
            ).all()
        return {
            feed_id: _aware(latest) - SEEN_REFRESH if feed_id in active and latest is not None else None
            for feed_id, latest in rows
        }

    async def _purge_items_batch(self, before: datetime, batch: int, report: PurgeReport) -> int:
        limits: dict[str, datetime | None] | None = report.extra.get("item_limits")
        if limits is None:
            limits = report.extra["item_limits"] = await self._item_limits(before)
        deleted = 0
        while limits and deleted < batch:
            feed_id, seen_limit = next(iter(limits.items()))
            want = batch - deleted
            pick = sa.select(t.items.c.key).where(t.items.c.feed_id == feed_id, t.items.c.fetched_at < before)
            if seen_limit is not None:
                pick = pick.where(sa.func.coalesce(t.items.c.last_seen_at, t.items.c.fetched_at) < seen_limit)
            done = await self._delete_picked(pick.limit(want), t.items.c.key)
            deleted += done
            if done < want:
                del limits[feed_id]  # nothing more of this feed can go
        report.items += deleted
        return batch if limits else deleted  # a full batch: call again

    async def _purge_stories_batch(self, before: datetime, batch: int, report: PurgeReport) -> int:
        s = t.stories
        referenced = sa.select(sa.literal(1)).where(t.items.c.story_id == s.c.id).exists()
        needed = (
            sa.select(sa.literal(1))
            .where(t.outbox.c.story_id == s.c.id, t.outbox.c.status.in_(UNSENT))
            .exists()
        )
        pick = sa.select(s.c.id).where(s.c.first_seen_at < before, ~referenced, ~needed).limit(batch)
        async with self.engine.begin() as conn:
            ids = [r.id for r in (await conn.execute(pick)).all()]
            if ids:
                report.story_sources += _count(
                    await conn.execute(sa.delete(t.story_sources).where(t.story_sources.c.story_id.in_(ids)))
                )
                report.story_tickers += _count(
                    await conn.execute(sa.delete(t.story_tickers).where(t.story_tickers.c.story_id.in_(ids)))
                )
                await conn.execute(sa.delete(s).where(s.c.id.in_(ids)))
        report.stories += len(ids)
        return len(ids)

    async def _purge_feeds_batch(self, before: datetime, batch: int, report: PurgeReport) -> int:
        f = t.feeds
        has_items = sa.select(sa.literal(1)).where(t.items.c.feed_id == f.c.id).exists()
        pick = (
            sa.select(f.c.id)
            .where(
                ~f.c.active,
                sa.or_(f.c.last_polled_at.is_(None), f.c.last_polled_at < before),
                ~has_items,
            )
            .limit(batch)
        )
        deleted = await self._delete_picked(pick, f.c.id)
        report.feeds += deleted
        return deleted

    # ------------------------------------------------------------ sizes (for the benchmark and health)

    async def table_rows(self, tables: Sequence[str] = ()) -> dict[str, int]:
        """Row counts of the store's tables (all of them by default)."""
        names = list(tables) or [n for n in t.metadata.tables]
        out: dict[str, int] = {}
        async with self.engine.connect() as conn:
            for name in names:
                table = t.metadata.tables[name]
                out[name] = int(
                    (await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one()
                )
        return out


def _count(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _aware(value: datetime | str) -> datetime:
    """Aggregates bypass the UTCDateTime type: SQLite returns naive text, PostgreSQL aware values."""
    from datetime import UTC

    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

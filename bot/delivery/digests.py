"""Held alerts come back: when quiet hours or a mute end, or an hourly cap has room again.

``HeldReleaser.run_once()`` is a job the app schedules every minute. For each subscription
with held alerts whose hold is over it atomically folds them (``Store.fold_held``) into one
digest message — or, when only one alert was held, re-queues that alert marked late. With
``delivery.held: drop-stale`` alerts held longer than ``delivery.stale_after`` are dropped
instead, logged and counted (visible as ``dropped`` rows), never silently.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.config import DeliveryConfig
from bot.delivery.compose import compose_digest, compose_late, in_quiet_hours
from bot.domain.models import Alert, Subscription
from bot.domain.records import OutboxEntry
from bot.ports import Clock, OutboxStore, SubscriptionStore

log = logging.getLogger(__name__)


class DigestStore(OutboxStore, SubscriptionStore, Protocol):
    """The store capabilities the held-alert releaser uses."""


# Alerts that mean something on their own keep their shape when released (a briefing in a digest
# would lose its content); stories fold into the digest; a follow-up of a held story is redundant.
_STANDALONE = frozenset({"briefing", "move"})


class HeldReleaser:
    """Releases held alerts whose hold has ended, as one digest per subscription."""

    def __init__(self, store: DigestStore, delivery: DeliveryConfig, clock: Clock, *, tz: ZoneInfo) -> None:
        self._store = store
        self._cfg = delivery
        self._tz = tz
        self._clock = clock
        self.stats: Counter[str] = Counter()

    async def run_once(self) -> int:
        """Release every subscription whose hold is over; returns how many messages were queued."""
        held = await self._store.held_entries()
        if not held:
            return 0
        now = self._clock.now()
        by_sub: dict[int | None, list[OutboxEntry]] = {}
        for e in held:
            by_sub.setdefault(e.subscription_id, []).append(e)
        queued = 0
        for sub_id in by_sub:
            if sub_id is None:
                continue
            sub = await self._store.get_subscription(sub_id)
            if sub is None:
                release = await self._store.fold_held(
                    sub_id,
                    now=now,
                    compose=lambda _entries: [],
                    drop_before=now + timedelta(days=36500),
                    drop_reason="unsubscribed while held",
                )
                self.stats["dropped"] += len(release.dropped)
                log.info("dropped %d held alerts of removed subscription %d", len(release.dropped), sub_id)
                continue
            if sub.state == "broken" or not await self._hold_over(sub, now):
                continue
            queued += await self.release(sub, now=now)
        return queued

    async def _hold_over(self, sub: Subscription, now: datetime) -> bool:
        opts = sub.options
        if opts.mute_until is not None and opts.mute_until > now:
            return False
        if in_quiet_hours(opts.quiet_hours, now, self._tz):
            return False
        if opts.max_per_hour is not None:
            sent = await self._store.count_sent_since(sub.id, now - timedelta(hours=1))
            if sent >= opts.max_per_hour:
                return False
        return True

    async def release(self, sub: Subscription, *, now: datetime) -> int:
        """Fold one subscription's held alerts into what replaces them now (whatever its options)."""
        drop_before = None
        if self._cfg.held == "drop-stale":
            drop_before = now - timedelta(seconds=self._cfg.stale_after)

        def compose(entries: list[OutboxEntry]) -> Sequence[OutboxEntry]:
            return self._replacements(sub, entries, now)

        release = await self._store.fold_held(
            sub.id,
            now=now,
            compose=compose,
            drop_before=drop_before,
            drop_reason=f"stale: held longer than {self._cfg.stale_after / 3600:g} h (delivery.held: drop-stale)",
        )
        if release.dropped:
            self.stats["dropped_stale"] += len(release.dropped)
            log.warning(
                "dropped %d stale held alerts for %s (%s): held longer than %g h",
                len(release.dropped),
                sub.channel,
                sub.watchlist,
                self._cfg.stale_after / 3600,
                extra={"subscription_id": sub.id, "outcome": "dropped_stale"},
            )
        if release.folded:
            self.stats["released"] += len(release.folded)
            self.stats["digests"] += sum(1 for e in release.queued if e.alert.kind == "digest")
            log.info(
                "released %d held alerts for %s (%s) as %d message(s)",
                len(release.folded),
                sub.channel,
                sub.watchlist,
                len(release.queued),
                extra={"subscription_id": sub.id, "outcome": "released"},
            )
        return len(release.queued)

    def _replacements(
        self, sub: Subscription, entries: list[OutboxEntry], now: datetime
    ) -> list[OutboxEntry]:
        standalone = [e for e in entries if e.alert.kind in _STANDALONE]
        stories = [e for e in entries if e.alert.kind == "story"]
        out: list[OutboxEntry] = []
        for e in standalone:
            late = compose_late(e.alert, reason=self._reason(sub, [e]), now=now)
            out.append(self._entry(late, sub, now))
        if len(stories) == 1:
            late = compose_late(stories[0].alert, reason=self._reason(sub, stories), now=now)
            out.append(self._entry(late, sub, now))
        elif stories:
            first, last = stories[0].id, stories[-1].id
            digest = compose_digest(
                [e.alert for e in stories],
                sub,
                key=f"digest:sub:{sub.id}:{first}-{last}",
                reason=self._reason(sub, stories),
                now=now,
                max_entries=self._cfg.digest_max_entries,
            )
            out.append(self._entry(digest, sub, now))
        return out

    @staticmethod
    def _entry(alert: Alert, sub: Subscription, now: datetime) -> OutboxEntry:
        return OutboxEntry(key=alert.key, alert=alert, subscription_id=sub.id, due_at=now, created_at=now)

    def _reason(self, sub: Subscription, entries: Sequence[OutboxEntry]) -> str:
        """Why these alerts were held, in words: quiet hours, a mute, or the hourly cap."""
        opts = sub.options
        reasons: list[str] = []
        for e in entries:
            created = e.created_at or e.due_at
            if in_quiet_hours(opts.quiet_hours, created, self._tz):
                text = f"Held during quiet hours ({opts.quiet_hours})."
            elif opts.max_per_hour is not None and not (opts.mute_until and opts.mute_until > created):
                text = f"Over the limit of {opts.max_per_hour} alerts per hour."
            else:
                text = "Held while alerts were muted."
            if text not in reasons:
                reasons.append(text)
        return " ".join(reasons)

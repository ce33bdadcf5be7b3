"""Notices where people look: the operators' channel (config ``notify``) hears about problems.

A sweep compares what is wrong now — broken subscriptions, disabled feeds, paused platforms,
all read from the store, so it sees what every process did — with what was announced before
(``Store.open_notices``), and queues at most one message for the new problems and one for the
recoveries. The rules that keep it from ever becoming a flood:

* one message per sweep and event (problems / recoveries) listing up to ``MAX_LISTED`` things,
  "…and N more" after that: a hundred feeds disabled by one DNS outage are one message;
* each thing is announced at most once per day per event (``notice:sent:…`` markers), so a
  flapping subscription cannot repeat itself;
* at most ``MAX_PER_DAY`` notice messages per day in all (``notice:msg:…`` markers); past that
  the log says so once and the health check and CLI still show everything.

Notices are outbox rows like every alert (kind ``notice``), so they are rate limited, retried
and ordered with the rest. Where they go: the first ``notify`` channel whose platform is not
paused — a list such as ``[slack:C…, discord:…]`` lets a Slack pause be announced on Discord at
once. With one channel on the paused platform, the pause notice waits in the queue and arrives
right before the recovery notice, when the platform accepts the bot again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

from bot.delivery.escape import clean_alert
from bot.domain.models import Alert, ChannelRef
from bot.domain.records import OutboxEntry
from bot.ports import Clock, FeedStore, MarkerStore, OutboxStore, SubscriptionStore

log = logging.getLogger(__name__)


class NoticeStore(FeedStore, MarkerStore, OutboxStore, SubscriptionStore, Protocol):
    """The store capabilities operator notices use."""


MAX_LISTED = 10
MAX_PER_DAY = 20

Event = Literal["problem", "recovered"]


@dataclass(frozen=True, slots=True)
class Problem:
    """Something an operator has to fix, as a notice line."""

    thing: str  # "subscription:12", "feed:<id>", "platform:slack"
    title: str
    detail: str
    fix: str


class Notices:
    """Announces problems and recoveries in the ``notify`` channel, through the outbox."""

    def __init__(
        self,
        store: NoticeStore,
        notify: Sequence[str],
        clock: Clock,
        *,
        tz: ZoneInfo,
        on_queued: Callable[[], None] | None = None,
    ) -> None:
        """``notify`` is the config's ``notify`` channels (``slack:C…``), ``tz`` the bot's time zone."""
        self._store = store
        self._targets = [ChannelRef.parse(c) for c in notify]
        self._tz = tz
        self._clock = clock
        self.on_queued = on_queued
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._capped_day: str | None = None
        self.stats: Counter[str] = Counter()

    @property
    def enabled(self) -> bool:
        return bool(self._targets)

    def wake(self) -> None:
        """Sweep soon (something just broke, paused or resumed); coalesces with a running sweep."""
        if not self.enabled:
            return
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._sweep_quietly())

    async def _sweep_quietly(self) -> None:
        try:
            await self.sweep()
        except Exception:
            log.exception("notices: the sweep failed; the next one retries")

    async def settled(self) -> None:
        """Wait for a sweep that ``wake`` started (if any) to finish."""
        task = self._task
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    # ------------------------------------------------------------ what is wrong

    async def problems(self) -> dict[str, Problem]:
        """Everything an operator has to fix now, by thing."""
        out: dict[str, Problem] = {}
        for sub in await self._store.list_subscriptions():
            if sub.state == "broken":
                again = " (or /watch subscribe again in the channel)" if sub.origin == "chat" else ""
                out[f"subscription:{sub.id}"] = Problem(
                    f"subscription:{sub.id}",
                    f"Subscription {sub.watchlist} → {sub.channel}",
                    f"is broken: {sub.broken_reason or 'no reason recorded'}",
                    f"fix the channel or the bot's access, then `marketbot subscriptions --repair {sub.id}`"
                    + again,
                )
        for feed in await self._store.list_feeds():
            if feed.spec.enabled and feed.disabled_reason:
                out[f"feed:{feed.id}"] = Problem(
                    f"feed:{feed.id}",
                    f"Feed {feed.spec.name} ({feed.spec.url})",
                    f"is disabled: {feed.disabled_reason}",
                    f"`marketbot feeds --enable {feed.id}` once it works again",
                )
        for pause in (await self._store.platform_pauses()).values():
            out[f"platform:{pause.platform}"] = Problem(
                f"platform:{pause.platform}",
                f"{pause.platform.title()} delivery",
                f"is paused: {pause.reason}",
                "alerts stay queued and go out by themselves once it accepts the bot again",
            )
        return out

    # ------------------------------------------------------------ the sweep

    async def sweep(self) -> int:
        """Queue notices for problems that appeared or went away since the last sweep.

        Returns how many notice messages were queued (0, 1 or 2).
        """
        if not self.enabled:
            return 0
        async with self._lock:
            now = self._clock.now()
            day = now.astimezone(self._tz).date().isoformat()
            current = await self.problems()
            announced = await self._store.open_notices()
            new = [p for thing, p in sorted(current.items()) if thing not in announced]
            gone = sorted(thing for thing in announced if thing not in current)
            queued = 0
            if new:
                queued += await self._announce("problem", new, day=day, now=now)
                for p in new:
                    await self._store.set_notice_open(p.thing, now=now, is_open=True)
            if gone:
                recovered = [await self._recovered(thing) for thing in gone]
                queued += await self._announce("recovered", recovered, day=day, now=now)
                for thing in gone:
                    await self._store.set_notice_open(thing, now=now, is_open=False)
        if queued and self.on_queued is not None:
            self.on_queued()
        return queued

    async def _recovered(self, thing: str) -> Problem:
        kind, _, ident = thing.partition(":")
        if kind == "subscription" and ident.isdigit():
            sub = await self._store.get_subscription(int(ident))
            if sub is None:
                return Problem(thing, f"Subscription {ident}", "was removed", "")
            return Problem(thing, f"Subscription {sub.watchlist} → {sub.channel}", "is active again", "")
        if kind == "feed":
            feed = await self._store.get_feed(ident)
            if feed is None or not feed.spec.enabled:
                return Problem(thing, f"Feed {feed.spec.name if feed else ident}", "is no longer polled", "")
            return Problem(thing, f"Feed {feed.spec.name} ({feed.spec.url})", "is polled again", "")
        if kind == "platform":
            return Problem(thing, f"{ident.title()} delivery", "resumed; queued alerts are going out", "")
        return Problem(thing, thing, "is resolved", "")

    async def _announce(self, event: Event, things: Sequence[Problem], *, day: str, now: datetime) -> int:
        fresh = [p for p in things if not await self._store.has_marker(_sent_key(p.thing, event, day))]
        if not fresh:
            self.stats["suppressed"] += len(things)
            return 0
        digest = hashlib.sha256("\n".join(p.thing for p in fresh).encode()).hexdigest()[:16]
        key = f"notice:{day}:{event}:{digest}"
        if not await self._store.existing_keys([key]):
            if await self._store.count_markers(f"notice:msg:{day}:") >= MAX_PER_DAY:
                if self._capped_day != day:
                    self._capped_day = day
                    log.warning(
                        "notices: %d messages today already; no more until tomorrow (the log, "
                        "/healthz and `marketbot subscriptions` / `marketbot feeds` show the rest)",
                        MAX_PER_DAY,
                    )
                self.stats["capped"] += len(fresh)
                return 0
            alert = clean_alert(self._compose(event, fresh, key=key, now=now, target=await self._target()))
            await self._store.enqueue([OutboxEntry(key=key, alert=alert, subscription_id=None, due_at=now)])
        await self._store.add_marker(f"notice:msg:{day}:{digest}:{event}", now=now)
        for p in fresh:
            await self._store.add_marker(_sent_key(p.thing, event, day), now=now)
        self.stats[event] += len(fresh)
        log.info("notices: queued a %s notice about %d thing(s)", event, len(fresh))
        return 1

    async def _target(self) -> ChannelRef:
        """The first notify channel whose platform is not paused (else the first: it waits there)."""
        paused = await self._store.platform_pauses()
        return next((t for t in self._targets if t.platform not in paused), self._targets[0])

    def _compose(
        self, event: Event, things: Sequence[Problem], *, key: str, now: datetime, target: ChannelRef
    ) -> Alert:
        n = len(things)
        if event == "problem":
            title = f"marketbot: {n} problem{'s' if n != 1 else ''} need{'s' if n == 1 else ''} attention"
        else:
            title = f"marketbot: {n} problem{'s' if n != 1 else ''} resolved"
        lines: list[str] = []
        for p in things[:MAX_LISTED]:
            lines.append(f"• {p.title} {p.detail}")
            if p.fix:
                lines.append(f"   Fix: {p.fix}")
        if n > MAX_LISTED:
            lines.append(f"…and {n - MAX_LISTED} more: see `marketbot subscriptions` and `marketbot feeds`")
        return Alert(
            key=key,
            kind="notice",
            channel=target,
            watchlist="",
            title=title,
            source="marketbot",
            note="\n".join(lines),
            created_at=now,
        )


def _sent_key(thing: str, event: Event, day: str) -> str:
    return f"notice:sent:{day}:{event}:{thing}"[:255]

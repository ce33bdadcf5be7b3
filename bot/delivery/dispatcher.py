"""The outbox dispatcher: claims due alerts, sends them once, in order, within rate limits.

* Claims are atomic (``Store.claim_due``: at most one row per channel, its oldest unsent, so a
  channel's alerts go out in queue order) and leased: if this process dies between claim and
  send, the row is due again when the lease expires and another dispatcher sends it.
* Each channel has a token bucket sized from its adapter's ``channel_rate`` (Slack 1/s,
  Discord 5 per 5 s): a burst waits for budget instead of failing. At most
  ``delivery.max_claimed`` rows are held by this process and ``delivery.concurrency`` sends
  are in flight, so a backlog of any size drains with flat memory.
* A ``DeliveryError`` with ``retryable=True`` (429, 5xx, timeouts) is retried with exponential
  backoff and full jitter — or exactly after the platform's ``retry_after`` — for up to
  ``delivery.max_retry`` (24 h) from the first attempt, then marked failed. A permanent one
  (channel gone, bot removed, token revoked) fails the row and marks the subscription broken
  with the reason; nothing repairs a subscription silently (re-subscribing or changing its
  config does). Later rows of a broken subscription fail without being sent.
* Rows keyed ``edit:<key>`` edit the message sent for ``<key>`` (late prices); follow-ups
  reply in the thread of their story's alert (or, with ``threads: off``, in the channel).

Delivery is at least once: a crash after the platform accepted a message but before
``mark_sent`` committed resends it after the lease; nothing is ever lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from bot.config import BotConfig
from bot.delivery.compose import edited_key
from bot.domain.errors import DeliveryError
from bot.domain.models import MessageRef, Subscription
from bot.ports import ChatAdapter, Clock, OutboxEntry, Store

log = logging.getLogger(__name__)

MAX_BUCKETS = 10_000
NO_ADAPTER_RETRY = 300.0

Sleep = Callable[[float], Awaitable[None]]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class DrainReport:
    """What one ``drain()`` did."""

    sent: int = 0
    edited: int = 0
    retried: int = 0
    failed: int = 0
    dropped: int = 0

    @property
    def handled(self) -> int:
        return self.sent + self.edited + self.retried + self.failed + self.dropped


class TokenBucket:
    """``capacity`` messages per ``per`` seconds, refilled continuously; starts full."""

    __slots__ = ("capacity", "rate", "tokens", "updated")

    def __init__(self, capacity: int, per: float, now: float) -> None:
        self.capacity = float(max(capacity, 1))
        self.rate = self.capacity / max(per, 1e-9)
        self.tokens = self.capacity
        self.updated = now

    def take(self, now: float) -> float:
        """Take a token: 0.0 when one was available, else the seconds until one will be."""
        if now > self.updated:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate

    def full(self, now: float) -> bool:
        return self.tokens + max(now - self.updated, 0.0) * self.rate >= self.capacity


class _Drop(Exception):
    """A row that must not be sent (its subscription is gone, its parent was never sent)."""

    def __init__(self, reason: str, *, status: str = "dropped") -> None:
        super().__init__(reason)
        self.status = status


class Dispatcher:
    """Sends due outbox rows through the adapter of each row's platform.

    ``sleep`` waits for rate-limit budget; tests pass one that advances their manual clock.
    """

    def __init__(
        self,
        store: Store,
        adapters: Mapping[str, ChatAdapter],
        config: BotConfig,
        clock: Clock,
        worker_id: str,
        *,
        sleep: Sleep | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._store = store
        self._adapters = dict(adapters)
        self._cfg = config.delivery
        self._clock = clock
        self.worker_id = worker_id
        self._sleep: Sleep = sleep or asyncio.sleep
        self._rng = rng or random.Random()
        self._lease = timedelta(seconds=self._cfg.lease)
        self._inflight: dict[int, asyncio.Task[None]] = {}
        self._sending: set[int] = set()
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        self._send_slots: asyncio.Semaphore | None = None
        self._changed: asyncio.Event | None = None
        self._closing = False
        self._running = False
        self._stopped: asyncio.Event | None = None
        self._warned_platforms: set[str] = set()
        self.stats: Counter[str] = Counter()

    # ------------------------------------------------------------ lifecycle

    def wake(self) -> None:
        """Look for due rows now (the pipeline just queued some) instead of at the next poll."""
        if self._changed is not None:
            self._changed.set()

    async def run(self) -> None:
        """Send due rows until cancelled or ``aclose()``; in-flight sends finish on the way out."""
        self._init()
        assert self._stopped is not None
        self._running = True
        self._stopped.clear()
        log.info("dispatcher %s started", self.worker_id)
        try:
            while not self._closing:
                claimed = await self._fill()
                if claimed and len(self._inflight) < self._cfg.max_claimed:
                    await asyncio.sleep(0)
                    continue
                await self._wait_for_change(self._cfg.poll_interval)
        finally:
            await asyncio.shield(self._shutdown())
            self._running = False
            self._stopped.set()
            log.info("dispatcher %s stopped", self.worker_id)

    async def drain(self) -> DrainReport:
        """Send everything due now (for ``poll --once``); returns what happened."""
        self._init()
        before = Counter(self.stats)
        while True:
            claimed = await self._fill()
            if not claimed and not self._inflight:
                break
            if not claimed or len(self._inflight) >= self._cfg.max_claimed:
                await self._wait_for_change(self._cfg.poll_interval)
        diff = self.stats - before
        return DrainReport(
            sent=diff["sent"],
            edited=diff["edited"],
            retried=diff["retried"],
            failed=diff["failed"],
            dropped=diff["dropped"],
        )

    async def aclose(self) -> None:
        """Stop ``run()`` (if running) and finish or release everything this process holds."""
        self._closing = True
        self.wake()
        if self._running and self._stopped is not None:
            await self._stopped.wait()
        else:
            await self._shutdown()

    def _init(self) -> None:
        if self._changed is None:
            self._changed = asyncio.Event()
            self._stopped = asyncio.Event()
            self._send_slots = asyncio.Semaphore(self._cfg.concurrency)

    async def _wait_for_change(self, timeout: float) -> None:
        assert self._changed is not None
        try:
            async with asyncio.timeout(timeout):
                await self._changed.wait()
        except TimeoutError:
            pass
        self._changed.clear()

    async def _shutdown(self) -> None:
        waiting = [t for eid, t in self._inflight.items() if eid not in self._sending]
        for t in waiting:
            t.cancel()  # not sent yet: released so the next process sends them at once
        busy = list(self._inflight.values())
        if busy:
            _, pending = await asyncio.wait(busy, timeout=self._cfg.shutdown_grace)
            for t in pending:
                t.cancel()  # its lease expires and it is sent again (at least once)
            if pending:
                log.warning(
                    "%d sends did not finish within the shutdown grace; they will be retried", len(pending)
                )
                await asyncio.wait(pending)

    # ------------------------------------------------------------ claiming

    async def _fill(self) -> int:
        free = self._cfg.max_claimed - len(self._inflight)
        if free <= 0 or self._closing:
            return 0
        entries = await self._store.claim_due(
            now=self._clock.now(), limit=free, lease=self._lease, worker=self.worker_id
        )
        started = 0
        for entry in entries:
            if entry.id is None or entry.id in self._inflight:
                continue  # our own claim came back after its lease: the running task owns it
            task = asyncio.ensure_future(self._deliver(entry))
            self._inflight[entry.id] = task
            task.add_done_callback(functools.partial(self._done, entry.id))
            started += 1
        return started

    def _done(self, entry_id: int, _task: object = None) -> None:
        self._inflight.pop(entry_id, None)
        self._sending.discard(entry_id)
        if self._changed is not None:
            self._changed.set()

    # ------------------------------------------------------------ sending one row

    def _bucket(self, entry: OutboxEntry, adapter: ChatAdapter | None, now: float) -> TokenBucket:
        key = str(entry.alert.channel)
        bucket = self._buckets.get(key)
        if bucket is None:
            capacity, per = adapter.channel_rate if adapter is not None else (1, 1.0)
            bucket = TokenBucket(capacity, per, now)
            self._buckets[key] = bucket
            if len(self._buckets) > MAX_BUCKETS:
                for old_key in list(self._buckets)[: len(self._buckets) - MAX_BUCKETS]:
                    if self._buckets[old_key].full(now):
                        del self._buckets[old_key]
        else:
            self._buckets.move_to_end(key)
        return bucket

    async def _deliver(self, entry: OutboxEntry) -> None:
        assert entry.id is not None and self._send_slots is not None
        started = False
        claimed_at = self._clock.now()
        try:
            adapter = self._adapters.get(entry.alert.channel.platform)
            if adapter is not None:
                bucket = self._bucket(entry, adapter, claimed_at.timestamp())
                while (wait := bucket.take(self._clock.now().timestamp())) > 0:
                    held_for = (self._clock.now() - claimed_at).total_seconds()
                    if held_for + wait > self._cfg.lease / 2:
                        # do not sit on a claim near its lease: give it back, due when budget is
                        await self._store.mark_retry(
                            entry.id,
                            due_at=self._clock.now() + timedelta(seconds=wait),
                            error="waiting for the channel's rate limit",
                        )
                        self.stats["deferred"] += 1
                        return
                    await self._sleep(wait)
            async with self._send_slots:
                started = True
                self._sending.add(entry.id)
                await self._attempt(entry, adapter)
        except asyncio.CancelledError:
            if not started:
                with contextlib.suppress(Exception):
                    await asyncio.shield(
                        self._store.mark_retry(
                            entry.id, due_at=self._clock.now(), error="released at shutdown"
                        )
                    )
            raise
        except Exception:
            # a bug or a store outage: the claim expires after the lease and the row is retried
            log.exception("dispatcher: unexpected error on outbox row %s (%s)", entry.id, entry.key)
            self.stats["errors"] += 1

    async def _attempt(self, entry: OutboxEntry, adapter: ChatAdapter | None) -> None:
        assert entry.id is not None
        alert = entry.alert
        platform = alert.channel.platform
        if adapter is None:
            if platform not in self._warned_platforms:
                self._warned_platforms.add(platform)
                log.warning(
                    "alerts for %s are waiting: the bot has no %s connection (check its token "
                    "in the environment); they are retried for up to %g h",
                    alert.channel,
                    platform,
                    self._cfg.max_retry / 3600,
                )
            err = DeliveryError(f"no {platform} connection is configured", retryable=True)
            await self._retry(entry, err, delay=NO_ADAPTER_RETRY)
            return
        try:
            sub = await self._subscription(entry)
            original = edited_key(entry.key)
            if original is not None:
                ref = await self._store.sent_ref(original)
                if ref is None:
                    raise _Drop("nothing to edit: the original alert was not sent")
                await self._call(adapter.edit(ref, alert))
                await self._store.mark_sent(entry.id, ref=ref, now=self._clock.now())
                self.stats["edited"] += 1
                return
            thread = await self._thread_for(entry, sub)
            ref = await self._call(adapter.send(alert, target=alert.channel, thread=thread))
        except _Drop as drop:
            await self._store.mark_failed(entry.id, error=str(drop), status=drop.status)  # type: ignore[arg-type]
            self.stats[drop.status] += 1
            log.info("outbox row %s (%s) not sent: %s", entry.id, entry.key, drop)
            return
        except DeliveryError as exc:
            await self._failed(entry, exc)
            return
        await self._store.mark_sent(entry.id, ref=ref, now=self._clock.now())
        self.stats["sent"] += 1
        log.debug("sent %s to %s as %s", entry.key, alert.channel, ref.id)

    async def _call(self, call: Awaitable[T]) -> T:
        """One platform call under ``send_timeout``; a timeout is a retryable DeliveryError."""
        try:
            async with asyncio.timeout(self._cfg.send_timeout):
                return await call
        except TimeoutError:
            raise DeliveryError(
                f"the platform did not answer within {self._cfg.send_timeout:g}s", retryable=True
            ) from None

    async def _subscription(self, entry: OutboxEntry) -> Subscription | None:
        if entry.subscription_id is None:
            return None
        sub = await self._store.get_subscription(entry.subscription_id)
        if sub is None:
            raise _Drop("the subscription was removed")
        if sub.state == "broken":
            raise _Drop(f"subscription broken: {sub.broken_reason}", status="failed")
        return sub

    async def _thread_for(self, entry: OutboxEntry, sub: Subscription | None) -> MessageRef | None:
        alert = entry.alert
        if alert.kind != "followup":
            return None
        parent_id = alert.thread_of
        if parent_id is None and alert.story_id and entry.subscription_id is not None:
            parent = await self._store.sent_message(
                story_id=alert.story_id, subscription_id=entry.subscription_id
            )
            parent_id = parent.id if parent else None
        if parent_id is None:
            raise _Drop("the story's alert was not sent, so there is nothing to follow up")
        if sub is not None and not sub.options.threads:
            return None
        return MessageRef(alert.channel, parent_id)

    # ------------------------------------------------------------ failures

    async def _failed(self, entry: OutboxEntry, exc: DeliveryError) -> None:
        assert entry.id is not None
        if exc.retryable:
            await self._retry(entry, exc)
            return
        reason = str(exc) if not exc.code or exc.code in str(exc) else f"{exc} ({exc.code})"
        await self._store.mark_failed(entry.id, error=reason)
        self.stats["failed"] += 1
        if edited_key(entry.key) is None and entry.subscription_id is not None:
            await self._store.mark_subscription_broken(entry.subscription_id, reason)
            self.stats["broken"] += 1
            log.error(
                "subscription %d (%s → %s) is now broken: %s. Fix the channel or the bot's access, "
                "then subscribe again (or change it in the config); `marketbot subscriptions` shows it",
                entry.subscription_id,
                entry.alert.watchlist,
                entry.alert.channel,
                reason,
                extra={"subscription_id": entry.subscription_id, "outcome": "broken"},
            )
        else:
            log.warning("outbox row %s (%s) failed permanently: %s", entry.id, entry.key, reason)

    def backoff(self, attempts: int) -> float:
        """Full-jitter exponential backoff for the ``attempts``-th failed attempt (1-based)."""
        ceiling = min(self._cfg.retry_cap, self._cfg.retry_base * 2 ** max(attempts - 1, 0))
        return self._rng.uniform(0.0, ceiling)

    async def _retry(self, entry: OutboxEntry, exc: DeliveryError, *, delay: float | None = None) -> None:
        assert entry.id is not None
        now = self._clock.now()
        if delay is None:
            delay = exc.retry_after if exc.retry_after is not None else self.backoff(entry.attempts)
        delay = max(delay, 0.0)
        first = entry.first_attempt_at or now
        due = now + timedelta(seconds=delay)
        if (due - first).total_seconds() > self._cfg.max_retry:
            error = f"gave up after {_hours(now - first)} of retries: {exc}"
            await self._store.mark_failed(entry.id, error=error)
            self.stats["failed"] += 1
            log.error(
                "alert %s for %s: %s", entry.key, entry.alert.channel, error, extra={"outcome": "gave_up"}
            )
            return
        await self._store.mark_retry(entry.id, due_at=due, error=str(exc))
        self.stats["retried"] += 1
        log.info(
            "alert %s for %s will be retried in %.1fs (attempt %d): %s",
            entry.key,
            entry.alert.channel,
            delay,
            entry.attempts,
            exc,
        )


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.1f} h" if hours >= 1 else f"{delta.total_seconds() / 60:.0f} min"

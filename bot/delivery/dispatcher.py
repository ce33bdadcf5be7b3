"""The outbox dispatcher: claims due alerts, sends them once, in order, within rate limits.

* Claims are atomic and leased (``Store.claim_due``): a batch of each channel's oldest unsent
  rows, as many as its platform's rate sends in a quarter of the lease (``batch_sizes``), so a
  fast channel drains in large batches. One task per channel sends its batch in queue order;
  a row that is not done with (retried, deferred) sends the rest of its batch back untried
  (``Store.release_claims``). Completions are recorded in batches (``mark_sent_many``) while
  the next row is sent. A claim reads the claimed rows' subscriptions in one query. While a
  backlog fills every claim, the next one starts as soon as half of ``max_claimed`` is free
  again (unpaced, while the rest still sends); claims and batched marks take turns on the
  database. If this process dies between claim and send, the rows are due again
  when the lease expires and another dispatcher sends them.
* Each channel has a rate limiter sized from its adapter's ``channel_rate`` (Slack 1/s,
  Discord 5 per 5 s; a sliding window, see ``ChannelLimiter``): a burst waits for budget
  instead of failing. The limit holds across replicas: a claim hands a channel to one worker
  at a time, and the next holder counts the previous holder's latest sends (their ``sent_at``,
  ``Store.recent_sends``) into its window before its first send. At most
  ``delivery.max_claimed`` rows are held by this process and ``delivery.concurrency`` sends
  are in flight, so a backlog of any size drains with flat memory.
* A ``DeliveryError`` with ``retryable=True`` (429, 5xx, timeouts) is retried with exponential
  backoff and full jitter — or exactly after the platform's ``retry_after`` — for up to
  ``delivery.max_retry`` (24 h) from the first attempt, then marked failed. A permanent one
  about a channel (channel gone or archived, bot removed, missing access) fails the row and
  marks the subscription broken with the reason; nothing repairs a subscription silently
  (re-subscribing or changing its config does). Later rows of a broken subscription fail
  without being sent.
* ``CredentialsRejected`` (Slack ``invalid_auth``/``token_revoked``/…, Discord 401 or gateway
  4004) is the platform's, not the channel's: delivery to that platform pauses. Nothing is
  failed or broken; claimed rows go back to the queue untried (``Store.defer_paused``) and the
  pause is stored, so health checks and ``marketbot subscriptions`` say what to fix. The
  credentials are re-checked (``AuthProbe.check_auth``: Slack ``auth.test``, Discord
  ``GET /users/@me``) with exponential backoff up to ``RECHECK_CAP`` — and at once when the
  process starts — and delivery resumes by itself, in queue order, once they work again.
* Rows keyed ``edit:<key>`` edit the message sent for ``<key>`` (late prices); follow-ups
  reply in the thread of their story's alert (or, with ``threads: off``, in the channel).

* Replicas (PostgreSQL, ``dead_after`` given): leases of rows in flight are renewed every third
  of a lease; a dead replica's claims (heartbeat older than ``dead_after``) are taken over at
  once, a live one's only ``LIVE_MARGIN`` after they expired; no send starts once the database
  has been away for ``GIVE_UP``, and after its own outage a dispatcher takes no other worker's
  claims for ``SETTLE`` (the holders of unrecorded sends record them first).

Delivery is at least once: a crash after the platform accepted a message but before
``mark_sent`` committed resends it after the lease; nothing is ever lost. A database outage
is not a crash: a send the platform accepted while ``mark_sent`` could not be committed is
kept in memory and recorded as soon as the database answers (retried with backoff, well within
the lease), and a row this process claims again meanwhile is recorded, not sent a second time.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from bot.config import DeliveryConfig
from bot.delivery.compose import edited_key
from bot.domain.errors import CredentialsRejected, DeliveryError
from bot.domain.models import MessageRef, Subscription
from bot.domain.records import OutboxEntry, PlatformPause
from bot.logs import bind_trace
from bot.ports import AuthProbe, ChatAdapter, Clock, OutboxStore, SubscriptionStore

log = logging.getLogger(__name__)


class DispatchStore(OutboxStore, SubscriptionStore, Protocol):
    """The store capabilities the dispatcher uses."""


MAX_LIMITERS = 10_000
CLAIM_DUTY = 4.0  # the next claim starts no sooner than this many times the last claim's duration
SUBSCRIPTION_TTL = 5.0  # seconds an active subscription's state is trusted without re-reading it
NO_ADAPTER_RETRY = 300.0
SHARED_WINDOW_MAX = 100  # channels of platforms allowing more sends per window are not paced across replicas
RECHECK_BASE = 15.0  # first re-check of a paused platform's credentials after this many seconds
RECHECK_CAP = 600.0
RECORD_RETRY = 0.25  # first retry of recording sends while the database is away, then doubling
RECORD_RETRY_CAP = 2.0
MAX_UNRECORDED = 10_000  # then doubling, with jitter, up to every ten minutes
LIVE_MARGIN = 15.0  # a live replica's expired claims are taken over only this long after they expired
GIVE_UP = 5.0  # a dispatcher that could not reach the database for this long starts no send
SETTLE = 15.0  # after its own database outage, a dispatcher takes no other worker's claims this long

Sleep = Callable[[float], Awaitable[None]]
Mark = asyncio.Future[None]  # resolves once a sent row's ``mark_sent`` is committed
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class DrainReport:
    """What one ``drain()`` did."""

    sent: int = 0
    edited: int = 0
    retried: int = 0
    failed: int = 0
    dropped: int = 0
    deferred: int = 0  # held back untried because their platform is paused

    @property
    def handled(self) -> int:
        return self.sent + self.edited + self.retried + self.failed + self.dropped + self.deferred


class ChannelLimiter:
    """At most ``limit`` messages in any ``per`` seconds (a sliding window, so never a burst over).

    A token bucket refilled continuously would let Discord's "5 per 5 s" send 5 at once and a
    6th one second later — 6 in 5 s, which the platform answers with a 429. The window keeps
    the send times of the last ``limit`` messages and is recorded when a send really starts.
    """

    __slots__ = ("foreign", "limit", "per", "times")

    def __init__(self, limit: int, per: float) -> None:
        self.limit = max(limit, 1)
        self.per = max(per, 0.0)
        self.times: deque[float] = deque(maxlen=self.limit)
        self.foreign: set[float] = set()  # times already merged, so a later claim's read adds them once

    def delay(self, now: float) -> float:
        """Seconds to wait before the next send may start (0.0: now)."""
        if len(self.times) < self.limit:
            return 0.0
        return max(self.times[0] + self.per - now, 0.0)

    def record(self, now: float) -> None:
        self.times.append(now)

    def merge(self, times: list[float]) -> None:
        """Count sends made elsewhere (another replica) into the window: the latest ``limit`` of all.

        A send already merged (a later claim reads it again) is not counted twice.
        """
        fresh = [at for at in times if at not in self.foreign]
        if fresh:
            self.times = deque(sorted([*self.times, *fresh])[-self.limit :], maxlen=self.limit)
            self.foreign = {at for at in self.foreign | set(fresh) if at >= self.times[0]}

    def idle(self, now: float) -> bool:
        return not self.times or self.times[-1] + self.per <= now


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
        store: DispatchStore,
        adapters: Mapping[str, ChatAdapter],
        delivery: DeliveryConfig,
        clock: Clock,
        worker_id: str,
        *,
        sleep: Sleep | None = None,
        rng: random.Random | None = None,
        on_change: Callable[[], None] | None = None,
        dead_after: float | None = None,
    ) -> None:
        self._store = store
        self._adapters = dict(adapters)
        self._cfg = delivery
        self._clock = clock
        self.worker_id = worker_id
        self._sleep: Sleep = sleep or asyncio.sleep
        self._rng = rng or random.Random()
        self._lease = timedelta(seconds=self._cfg.lease)
        # replicas on PostgreSQL: claims of a replica silent this long are taken over at once
        self._dead_after = dead_after
        self._db_lost_since: float | None = None  # clock timestamp of the first failure since a success
        self._settle_until = 0.0  # clock timestamp: until then, no other worker's claims are taken
        self._renew_at = 0.0  # clock timestamp of the next renewal of the leases in flight
        self._gave_up_logged = False
        self._inflight: dict[int, asyncio.Task[None]] = {}
        self._sending: set[int] = set()
        self._limiters: OrderedDict[str, ChannelLimiter] = OrderedDict()
        self._channels: dict[str, asyncio.Task[None]] = {}  # channel -> the task sending its batch
        self._batch_sizes = self.batch_sizes()
        self._subs: dict[int, tuple[float, Subscription]] = {}
        self._sent: list[tuple[int, MessageRef, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        # sends the platform accepted whose ``mark_sent`` failed (the database was away)
        self._unrecorded: OrderedDict[int, MessageRef] = OrderedDict()
        self._recorder: asyncio.Task[None] | None = None
        self._send_slots: asyncio.Semaphore | None = None
        # claims and batched marks take turns: on SQLite two writers at once would wait on the
        # file lock (its busy handler sleeps for milliseconds); on PostgreSQL they would only
        # compete for the same two cores
        self._writing = asyncio.Lock()
        self._changed: asyncio.Event | None = None
        self._closing = False
        self._woken = False
        self._next_claim_at = 0.0
        self._saturated = False
        self._freed = False  # a channel's task ended since the last claim
        self._running = False
        self._stopped: asyncio.Event | None = None
        self._warned_platforms: set[str] = set()
        self._pauses: dict[str, PlatformPause] = {}
        self._next_check: dict[str, float] = {}  # platform -> clock timestamp of its next re-check
        self._probes: dict[str, asyncio.Task[None]] = {}
        self._pauses_synced = False
        self._on_change = on_change  # something a user should hear about changed (pause, break)
        self.stats: Counter[str] = Counter()

    # ------------------------------------------------------------ lifecycle

    def wake(self) -> None:
        """Look for due rows now (the pipeline just queued some) instead of at the next poll."""
        self._woken = True
        if self._changed is not None:
            self._changed.set()

    async def run(self) -> None:
        """Send due rows until cancelled or ``aclose()``; in-flight sends finish on the way out."""
        self._init()
        assert self._stopped is not None
        self._running = True
        self._stopped.clear()
        log.info("dispatcher %s started", self.worker_id)
        outage = 0
        try:
            while not self._closing:
                try:
                    await self._sync_pauses()
                    await self._watch_adapters()
                    self._start_due_checks()
                    await self._fill()
                    outage = 0
                except Exception as exc:  # the database went away: keep running, claim again later
                    self._db_failed()
                    self.stats["claim_errors"] += 1
                    outage += 1
                    delay = min(self._cfg.poll_interval * 2**outage, 60.0)
                    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                    log.error("dispatcher: claiming due alerts failed (%s); again in %.0f s", reason, delay)
                    await self._wait_for_change(delay)
                    continue
                if self._saturated and len(self._inflight) < self._cfg.max_claimed:
                    await asyncio.sleep(0)  # the claim was cut by its limit: more are due now
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
        await self._sync_pauses()
        for platform in self._due_checks():
            await self._recheck(platform)
        while True:
            busy = bool(self._inflight)  # rows in flight hold their channels: a claim may miss those
            claimed = await self._fill()
            if not claimed and not self._inflight:
                if not busy:
                    break  # a claim made with nothing in flight found nothing due: done
                continue  # they finished while we were claiming: look again at once
            if self._saturated and len(self._inflight) < self._cfg.max_claimed:
                continue
            await self._wait_for_change(self._cfg.poll_interval)
        diff = self.stats - before
        return DrainReport(
            sent=diff["sent"],
            edited=diff["edited"],
            retried=diff["retried"],
            failed=diff["failed"],
            dropped=diff["dropped"],
            deferred=diff["deferred_paused"],
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
        """Until a send finishes, ``wake()`` or ``timeout``; then, unless woken, pace the next claim.

        A claim scans the outbox, so its cost grows with the backlog; while alerts trickle out
        at the platforms' rate limits, claiming after every single completion would spend most
        of the time claiming one row at a time. The next claim waits until ``CLAIM_DUTY`` times
        the last claim's duration has passed since it started (so claims use at most about a
        quarter of the time), which batches the completions of that interval into one claim.
        """
        assert self._changed is not None
        if self._saturated:
            await self._wait_for_room(timeout)
            return
        try:
            async with asyncio.timeout(timeout):
                await self._changed.wait()
        except TimeoutError:
            pass
        self._changed.clear()
        if not self._woken and not self._closing:
            pause = self._next_claim_at - time.monotonic()
            if pause > 0:
                await asyncio.sleep(min(pause, timeout))
        self._woken = False

    async def _wait_for_room(self, timeout: float) -> None:
        """After a claim cut by its limit (a backlog): claim again, unpaced, once it pays.

        That is once half of ``max_claimed`` is free again and a channel finished its batch since
        the claim (a claim only finds rows in channels no task of ours holds), or nothing is in
        flight: each claim takes a large batch while the rest of the last one is still sending.
        """
        assert self._changed is not None
        room = max(self._cfg.max_claimed // 2, 1)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._freed = False
        while not self._closing and not self._woken and self._inflight:
            if self._freed and self._cfg.max_claimed - len(self._inflight) >= room:
                break
            left = deadline - loop.time()
            if left <= 0:
                break
            self._changed.clear()
            try:
                async with asyncio.timeout(left):
                    await self._changed.wait()
            except TimeoutError:
                break
        self._changed.clear()
        self._woken = False

    async def _shutdown(self) -> None:
        probes = list(self._probes.values())
        for p in probes:
            p.cancel()
        await asyncio.gather(*probes, return_exceptions=True)
        tasks = set(self._inflight.values())
        sending = {self._inflight[eid] for eid in self._sending if eid in self._inflight}
        for t in tasks - sending:
            t.cancel()  # not sent yet: released so the next process sends them at once
        busy = list(tasks)
        if busy:
            _, pending = await asyncio.wait(busy, timeout=self._cfg.shutdown_grace)
            for t in pending:
                t.cancel()  # its lease expires and it is sent again (at least once)
            if pending:
                log.warning(
                    "%d sends did not finish within the shutdown grace; they will be retried", len(pending)
                )
                await asyncio.wait(pending)
        if self._flusher is not None and not self._flusher.done():
            with contextlib.suppress(Exception):
                await self._flusher
        if self._recorder is not None:
            self._recorder.cancel()
            await asyncio.gather(self._recorder, return_exceptions=True)
        if self._unrecorded:  # one last try; else they are sent again after their lease
            try:
                async with asyncio.timeout(3):
                    await self._store.mark_sent_many(list(self._unrecorded.items()), now=self._clock.now())
                self._unrecorded.clear()
            except Exception as exc:
                log.warning(
                    "dispatcher: %d sent alerts could not be recorded (%s); they are sent again after "
                    "their lease",
                    len(self._unrecorded),
                    exc,
                )

    # ------------------------------------------------------------ claiming

    def batch_sizes(self) -> dict[str, int]:
        """Rows one claim may take per channel, by platform: what its rate sends in a quarter lease.

        Slack (1/s) gets 16 with the default 60 s lease, Discord (5 per 5 s) 20, the console
        (1,000/s) as many as ``max_claimed``: a fast channel drains in large batches while a
        slow one never holds rows it cannot send long before their lease runs out.
        """
        out = {}
        for platform, adapter in self._adapters.items():
            limit, per = adapter.channel_rate
            horizon = self._cfg.lease / 4
            n = limit if per <= 0 else int(limit * (1 + horizon / per))
            out[platform] = max(1, min(n, self._cfg.max_claimed))
        return out

    async def _fill(self) -> int:
        await self._renew()
        free = self._cfg.max_claimed - len(self._inflight)
        self._saturated = False
        if free <= 0 or self._closing:
            return 0
        began = time.monotonic()
        now = self._clock.now()
        async with self._writing:
            entries = await self._store.claim_due(
                now=now,
                limit=free,
                lease=self._lease,
                worker=self.worker_id,
                per_platform=self._batch_sizes,
                alive_since=None if self._dead_after is None else now - timedelta(seconds=self._dead_after),
                live_margin=timedelta(seconds=LIVE_MARGIN),
                # not while (or just after) this process could not reach the database itself
                others=self._db_lost_since is None and now.timestamp() >= self._settle_until,
            )
        self._db_ok()
        self.stats["claims"] += 1
        self._next_claim_at = began + (time.monotonic() - began) * CLAIM_DUTY
        self._saturated = len(entries) >= free
        groups: dict[str, list[OutboxEntry]] = {}
        stale: list[int] = []
        for entry in entries:
            if entry.id is None or entry.id in self._inflight:
                continue  # our own claim came back after its lease: the running task owns it
            key = str(entry.alert.channel)
            running = self._channels.get(key)
            if running is not None and not running.done():
                stale.append(entry.id)  # behind a row of ours still in flight: never overtake it
                continue
            groups.setdefault(key, []).append(entry)
        if stale:
            await self._store.release_claims(stale, worker=self.worker_id)
        await self._prefetch_subscriptions(groups)
        await self._share_windows(groups)
        started = 0
        for key, rows in groups.items():
            rows.sort(key=lambda e: e.id or 0)
            task = asyncio.ensure_future(self._deliver_channel(rows))
            self._channels[key] = task
            for entry in rows:
                assert entry.id is not None
                self._inflight[entry.id] = task
            ids = [e.id for e in rows if e.id is not None]
            task.add_done_callback(functools.partial(self._channel_done, key, ids))
            started += len(rows)
        return started

    # ------------------------------------------------------------ leases and the database's health

    def _db_ok(self) -> None:
        """A write reached the database. After an outage: take no other worker's claims for a while.

        Every heartbeat looks old right after an outage of everyone's database, and a replica
        holding sends it could not record needs a moment to record them: ``SETTLE`` gives both.
        """
        if self._db_lost_since is not None:
            self._db_lost_since = None
            self._gave_up_logged = False
            self._settle_until = self._clock.now().timestamp() + SETTLE
            log.info("dispatcher: the database answers again")

    def _db_failed(self) -> None:
        if self._db_lost_since is None:
            self._db_lost_since = self._clock.now().timestamp()

    def _gave_up(self) -> bool:
        """The database has been away for ``GIVE_UP``: the leases held may lapse, send nothing new."""
        lost = self._db_lost_since
        return lost is not None and self._clock.now().timestamp() - lost >= GIVE_UP

    async def _renew(self) -> None:
        """Every third of a lease, extend the leases of the rows this process still holds."""
        now = self._clock.now()
        if not self._inflight or now.timestamp() < self._renew_at:
            return
        try:
            async with self._writing:
                await self._store.renew_claims(
                    list(self._inflight), worker=self.worker_id, until=now + self._lease
                )
        except Exception as exc:
            self._db_failed()
            log.warning("dispatcher: could not renew the leases of %d alerts (%s)", len(self._inflight), exc)
            return
        self._db_ok()
        self._renew_at = now.timestamp() + self._cfg.lease / 3

    async def _prefetch_subscriptions(self, groups: Mapping[str, list[OutboxEntry]]) -> None:
        """Read the claimed rows' subscriptions not cached yet in one query (not one per channel).

        Only active ones are cached (as ``_subscription`` does); a missing or broken one is read
        again by its row, which then drops or fails. A failed read is left to those reads too.
        Entries that expire within half a TTL are read again too: else they would expire while
        the batch is sending and every row of them would be read again on its own.
        """
        now = time.monotonic()
        soon = now + SUBSCRIPTION_TTL / 2
        wanted = {
            e.subscription_id
            for rows in groups.values()
            for e in rows
            if e.subscription_id is not None
            and ((cached := self._subs.get(e.subscription_id)) is None or cached[0] <= soon)
        }
        if not wanted:
            return
        try:
            found = await self._store.get_subscriptions(sorted(wanted))
        except Exception as exc:
            log.warning("dispatcher: could not read %d subscriptions at once (%s)", len(wanted), exc)
            return
        if len(self._subs) + len(found) > MAX_LIMITERS:
            self._subs.clear()
        for sid, sub in found.items():
            if sub.state == "active":
                self._subs[sid] = (now + SUBSCRIPTION_TTL, sub)

    async def _share_windows(self, groups: Mapping[str, list[OutboxEntry]]) -> None:
        """Count other replicas' latest sends to the claimed channels into their rate limiters.

        Only one worker holds a channel at a time (``claim_due``), but the one taking it over
        next must not send before the platform's window for the previous holder's last sends
        has passed: their ``sent_at`` times (recorded after the platform answered, so never too
        early) are read back in one query. If that read fails, each channel waits one full
        window before its first send instead (never a burst over the limit).
        """
        now = self._clock.now().timestamp()
        limiters: dict[str, ChannelLimiter] = {}
        for key, rows in groups.items():
            adapter = self._adapters.get(rows[0].alert.channel.platform)
            if adapter is None:
                continue
            limit, per = adapter.channel_rate
            if limit <= SHARED_WINDOW_MAX and per > 0:
                limiters[key] = self._limiter(rows[0], adapter, now)
        if not limiters:
            return
        try:
            recent = await self._store.recent_sends(
                {key: lim.limit for key, lim in limiters.items()}, worker=self.worker_id
            )
        except Exception as exc:
            log.warning("dispatcher: could not read other replicas' recent sends (%s); pacing from now", exc)
            for lim in limiters.values():
                lim.merge([now] * lim.limit)
            return
        for key, times in recent.items():
            held = limiters.get(key)
            if held is not None:
                held.merge([at.timestamp() for at in times if at.timestamp() + held.per > now])

    def _done(self, entry_id: int, _task: object = None) -> None:
        self._inflight.pop(entry_id, None)
        self._sending.discard(entry_id)
        if self._changed is not None:
            self._changed.set()

    def _channel_done(self, key: str, entry_ids: list[int], task: asyncio.Task[None]) -> None:
        if self._channels.get(key) is task:
            del self._channels[key]
        self._freed = True
        for entry_id in entry_ids:
            if self._inflight.get(entry_id) is task:
                self._done(entry_id)
        if not task.cancelled() and task.exception() is not None:
            log.error("dispatcher: delivering to %s failed: %r", key, task.exception())

    async def _deliver_channel(self, rows: list[OutboxEntry]) -> None:
        """Send one channel's claimed rows in queue order, each within the channel's budget.

        A row that is not done with (retried, deferred, paused, or an unexpected error) holds the
        rest back: they are released untried, due again behind it. Completions are recorded in
        batches (``mark_sent_many``) while the next row is sent; the task ends once they are.
        """
        claimed_at = self._clock.now()
        marks: list[asyncio.Future[None]] = []
        untried = 0  # rows[untried:] were not attempted yet
        try:
            for entry in rows:
                assert entry.id is not None
                if self._closing:
                    break
                untried += 1
                if marks and (edited_key(entry.key) is not None or entry.alert.kind == "followup"):
                    # it looks up an earlier row's message: let the marks sent so far land first
                    await asyncio.gather(*marks, return_exceptions=True)
                went_on, mark = False, None
                try:
                    went_on, mark = await self._deliver(entry, claimed_at)
                finally:
                    if mark is None:
                        self._done(entry.id)
                if mark is not None:
                    mark.add_done_callback(functools.partial(self._done, entry.id))
                    marks.append(mark)
                if not went_on:
                    break
            await self._release(rows[untried:])
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._release(rows[untried:]))
            raise
        finally:
            if marks:
                results = await asyncio.gather(*marks, return_exceptions=True)
                errors = [r for r in results if isinstance(r, BaseException)]
                if errors:
                    self.stats["errors"] += len(errors)
                    log.error(
                        "dispatcher: recording %d sent alerts failed (%s); recording them again until "
                        "the database answers (they are not sent again)",
                        len(errors),
                        errors[0],
                    )

    async def _release(self, rows: list[OutboxEntry]) -> None:
        """Give rows this process claimed but did not try back to the queue, untried."""
        ids = [e.id for e in rows if e.id is not None]
        if not ids:
            return
        try:
            await self._store.release_claims(ids, worker=self.worker_id)
        finally:
            for entry_id in ids:
                self._done(entry_id)
        self.stats["released"] += len(ids)

    # ------------------------------------------------------------ sending one row

    def _limiter(self, entry: OutboxEntry, adapter: ChatAdapter, now: float) -> ChannelLimiter:
        key = str(entry.alert.channel)
        limiter = self._limiters.get(key)
        if limiter is None:
            limit, per = adapter.channel_rate
            limiter = self._limiters[key] = ChannelLimiter(limit, per)
            if len(self._limiters) > MAX_LIMITERS:
                for old in list(self._limiters)[: len(self._limiters) - MAX_LIMITERS]:
                    if self._limiters[old].idle(now):
                        del self._limiters[old]
        else:
            self._limiters.move_to_end(key)
        return limiter

    async def _deliver(self, entry: OutboxEntry, claimed_at: datetime) -> tuple[bool, Mark | None]:
        """Wait for the channel's budget (without holding a send slot), then attempt the send.

        Returns whether the channel's next row may go (this one is done with) and, for a sent
        row, the future of its ``mark_sent``.
        """
        assert entry.id is not None and self._send_slots is not None
        # this row's task: its log lines (claimed, sent, retried, failed) name the story and key
        bind_trace(story_id=entry.alert.story_id, delivery_key=entry.key, channel=entry.alert.channel)
        log.debug("claimed outbox row %s (attempt %d)", entry.id, entry.attempts)
        sent = self._unrecorded.pop(entry.id, None)
        if sent is not None:  # sent before the database went away: record it, never send it twice
            log.info(
                "outbox row %s (%s) was sent as %s; recorded now, not sent again",
                entry.id,
                entry.key,
                sent.id,
            )
            return True, self._record_sent(entry.id, sent)
        started = False
        try:
            adapter = self._adapters.get(entry.alert.channel.platform)
            limiter = self._limiter(entry, adapter, claimed_at.timestamp()) if adapter else None
            while True:
                if limiter is not None:
                    wait = limiter.delay(self._clock.now().timestamp())
                    if wait > 0:
                        held_for = (self._clock.now() - claimed_at).total_seconds()
                        if held_for + wait > self._cfg.lease / 2:
                            # never sit on a claim near its lease: give it back, due when budget is
                            await self._store.mark_retry(
                                entry.id,
                                due_at=self._clock.now() + timedelta(seconds=wait),
                                error="waiting for the channel's rate limit",
                            )
                            self.stats["deferred"] += 1
                            return False, None
                        await self._sleep(wait)
                        continue
                if self._gave_up():
                    # its lease could not be renewed: another replica may take the row over soon
                    if not self._gave_up_logged:
                        self._gave_up_logged = True
                        log.warning("dispatcher: the database is away; no new sends until it answers")
                    self.stats["held_back"] += 1
                    return False, None
                async with self._send_slots:
                    started = True
                    self._sending.add(entry.id)
                    try:
                        return await self._attempt(entry, adapter, limiter)
                    finally:
                        self._sending.discard(entry.id)
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
            return False, None

    async def _budget(self, limiter: ChannelLimiter | None) -> None:
        """Take the channel's budget right before the platform call (the moment the platform counts)."""
        if limiter is None:
            return
        while (wait := limiter.delay(self._clock.now().timestamp())) > 0:
            await self._sleep(wait)  # rare and short: the caller already waited for budget
        limiter.record(self._clock.now().timestamp())

    def _record_sent(self, entry_id: int, ref: MessageRef) -> Mark:
        """``mark_sent``, batched: completions that land together share one transaction."""
        fut: Mark = asyncio.get_running_loop().create_future()
        fut.add_done_callback(_consume)
        self._sent.append((entry_id, ref, fut))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.ensure_future(self._flush_sent())
        return fut

    async def _flush_sent(self) -> None:
        while self._sent:
            await asyncio.sleep(0)  # let sends finishing in the same moment join this batch
            batch, self._sent = self._sent, []
            try:
                async with self._writing:
                    await self._store.mark_sent_many([(i, ref) for i, ref, _ in batch], now=self._clock.now())
                self._db_ok()
            except Exception as exc:
                self._db_failed()
                for entry_id, ref, fut in batch:
                    self._unrecorded[entry_id] = ref
                    if not fut.done():
                        fut.set_exception(exc)
                while len(self._unrecorded) > MAX_UNRECORDED:
                    self._unrecorded.popitem(last=False)  # the oldest is sent again after its lease
                if not self._closing and (self._recorder is None or self._recorder.done()):
                    self._recorder = asyncio.ensure_future(self._record_unrecorded())
            else:
                for *_, fut in batch:
                    if not fut.done():
                        fut.set_result(None)

    async def _record_unrecorded(self) -> None:
        """Record the sends whose ``mark_sent`` failed, retrying with backoff until the database
        answers: within the rows' lease, so no dispatcher (this one or another) sends them again."""
        delay = RECORD_RETRY
        while self._unrecorded:
            await asyncio.sleep(delay)
            batch = list(self._unrecorded.items())
            try:
                await self._store.mark_sent_many(batch, now=self._clock.now())
            except Exception:
                self._db_failed()
                delay = min(delay * 2, RECORD_RETRY_CAP)
                continue
            self._db_ok()
            for entry_id, _ in batch:
                self._unrecorded.pop(entry_id, None)
            log.info("dispatcher: recorded %d sent alerts now that the database answers again", len(batch))

    async def _attempt(
        self, entry: OutboxEntry, adapter: ChatAdapter | None, limiter: ChannelLimiter | None = None
    ) -> tuple[bool, Mark | None]:
        """Send (or edit) one row: whether the channel's next row may go, and the sent row's mark."""
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
            return False, None
        pause = self._pauses.get(platform)
        if pause is not None:
            await self._defer(entry, pause)
            return False, None
        try:
            sub = await self._subscription(entry)
            original = edited_key(entry.key)
            if original is not None:
                ref = await self._store.sent_ref(original)
                if ref is None:
                    raise _Drop("nothing to edit: the original alert was not sent")
                await self._budget(limiter)
                await self._call(adapter.edit(ref, alert))
                self.stats["edited"] += 1
                return True, self._record_sent(entry.id, ref)
            thread = await self._thread_for(entry, sub)
            await self._budget(limiter)
            ref = await self._call(adapter.send(alert, target=alert.channel, thread=thread))
        except _Drop as drop:
            await self._store.mark_failed(entry.id, error=str(drop), status=drop.status)  # type: ignore[arg-type]
            self.stats[drop.status] += 1
            log.info("outbox row %s (%s) not sent: %s", entry.id, entry.key, drop)
            return True, None
        except CredentialsRejected as exc:
            await self._defer(entry, await self._pause(platform, exc))
            return False, None
        except DeliveryError as exc:
            await self._failed(entry, exc)
            return not exc.retryable, None
        self.stats["sent"] += 1
        log.info("sent %s to %s as %s", entry.key, alert.channel, ref.id)
        return True, self._record_sent(entry.id, ref)

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
        now = time.monotonic()
        cached = self._subs.get(entry.subscription_id)
        if cached is not None and cached[0] > now:
            return cached[1]  # only active ones are cached: a broken one is always re-read
        sub = await self._store.get_subscription(entry.subscription_id)
        if sub is not None and sub.state == "active":
            if len(self._subs) > MAX_LIMITERS:
                self._subs.clear()
            self._subs[sub.id] = (now + SUBSCRIPTION_TTL, sub)
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
        """Retry (retryable) or fail the row (and break its subscription when about the channel)."""
        assert entry.id is not None
        if exc.retryable:
            await self._retry(entry, exc)
            return
        reason = str(exc) if not exc.code or exc.code in str(exc) else f"{exc} ({exc.code})"
        await self._store.mark_failed(entry.id, error=reason)
        self.stats["failed"] += 1
        if edited_key(entry.key) is None and entry.subscription_id is not None:
            await self._store.mark_subscription_broken(entry.subscription_id, reason)
            self._subs.pop(entry.subscription_id, None)
            self.stats["broken"] += 1
            self._changed_state()
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

    # ------------------------------------------------------------ paused platforms

    @property
    def pauses(self) -> dict[str, PlatformPause]:
        """Platforms whose delivery is paused now (they reject the bot's credentials)."""
        return dict(self._pauses)

    def platform_status(self) -> dict[str, dict[str, Any]]:
        """For health checks: each paused platform with what to fix and when it is checked next."""
        now = self._clock.now()
        out: dict[str, dict[str, Any]] = {}
        for platform, p in self._pauses.items():
            due = self._next_check.get(platform)
            out[platform] = {
                "delivery": "paused",
                "since": p.since.isoformat(timespec="seconds"),
                "reason": p.reason,
                "fix": f"set a valid {p.setting}" if p.setting else p.reason,
                "checks": p.checks,
                "next_check_in_s": round(max(due - now.timestamp(), 0.0), 1) if due is not None else None,
            }
        return out

    def _changed_state(self) -> None:
        if self._on_change is not None:
            try:
                self._on_change()
            except Exception:
                log.exception("dispatcher: the change hook failed")

    def recheck_delay(self, checks: int) -> float:
        """Seconds until the next credentials check after ``checks`` failed ones (jittered)."""
        ceiling = min(RECHECK_CAP, RECHECK_BASE * 2 ** max(checks, 0))
        return self._rng.uniform(0.75 * ceiling, ceiling)

    async def _sync_pauses(self) -> None:
        """Once, before the first claim: take over stored pauses and start-up rejections.

        A platform stored as paused is checked again at once (the token may have been fixed
        before this restart); one that is no longer configured is unpaused, so its alerts take
        the no-connection path like any other.
        """
        if self._pauses_synced:
            return
        stored = await self._store.platform_pauses()
        self._pauses_synced = True
        now = self._clock.now()
        for platform, pause in stored.items():
            if platform not in self._adapters:
                await self._store.resume_platform(platform, now=now)
                log.info("%s is no longer configured: its delivery pause is lifted", platform)
                continue
            self._pauses[platform] = pause
            self._next_check[platform] = now.timestamp()  # at once after a restart
        for platform, adapter in self._adapters.items():
            problem = adapter.auth_problem if isinstance(adapter, AuthProbe) else None
            if problem is not None:
                await self._pause(platform, problem)

    async def _watch_adapters(self) -> None:
        """Pause a platform whose adapter saw its credentials rejected outside a send (gateway 4004)."""
        for platform, adapter in self._adapters.items():
            if platform in self._pauses or not isinstance(adapter, AuthProbe):
                continue
            problem = adapter.auth_problem
            if problem is not None:
                try:
                    await self._pause(platform, problem)
                except Exception:
                    log.exception("dispatcher: could not record the pause of %s", platform)

    async def _pause(self, platform: str, problem: CredentialsRejected) -> PlatformPause:
        """Pause ``platform`` (once; later calls return the pause); stores and announces it."""
        current = self._pauses.get(platform)
        if current is not None:
            return current
        now = self._clock.now()
        pause = PlatformPause(
            platform=platform,
            code=problem.code or "credentials_rejected",
            reason=str(problem),
            setting=problem.setting,
            since=now,
            checked_at=now,
        )
        self._pauses[platform] = pause
        delay = self.recheck_delay(0)
        self._next_check[platform] = now.timestamp() + delay
        self.stats["paused"] += 1
        await self._store.pause_platform(pause)
        log.error(
            "%s delivery is paused: %s. Alerts stay queued and no subscription is marked broken; "
            "the credentials are checked again in %.0f s (then with backoff, and at once after a "
            "restart) and delivery resumes by itself",
            platform.title(),
            pause.reason,
            delay,
            extra={"platform": platform, "outcome": "paused"},
        )
        self._changed_state()
        return pause

    async def _defer(self, entry: OutboxEntry, pause: PlatformPause) -> None:
        assert entry.id is not None
        due = self._next_check.get(pause.platform, self._clock.now().timestamp())
        await self._store.defer_paused(
            entry.id,
            due_at=datetime.fromtimestamp(due, UTC),
            error=f"{pause.platform} is paused: {pause.reason}",
        )
        self.stats["deferred_paused"] += 1

    def _due_checks(self) -> list[str]:
        now = self._clock.now().timestamp()
        return [p for p in self._pauses if p not in self._probes and self._next_check.get(p, now) <= now]

    def _start_due_checks(self) -> None:
        for platform in self._due_checks():
            task = asyncio.ensure_future(self._recheck(platform))
            self._probes[platform] = task
            task.add_done_callback(functools.partial(self._probe_done, platform))

    def _probe_done(self, platform: str, task: asyncio.Task[None]) -> None:
        self._probes.pop(platform, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("dispatcher: re-checking %s failed: %r", platform, task.exception())
            self._next_check[platform] = self._clock.now().timestamp() + RECHECK_CAP

    async def _recheck(self, platform: str) -> None:
        """Ask the platform whether it accepts the credentials now; resume, or check again later."""
        pause = self._pauses.get(platform)
        if pause is None:
            return
        adapter = self._adapters.get(platform)
        now = self._clock.now()
        try:
            if isinstance(adapter, AuthProbe):
                async with asyncio.timeout(self._cfg.send_timeout):
                    await adapter.check_auth()
            # an adapter that cannot be asked is tried again: the next send is the check
        except (CredentialsRejected, DeliveryError, TimeoutError) as exc:
            checks = pause.checks + 1
            reason = str(exc) if isinstance(exc, CredentialsRejected) else pause.reason
            still = replace(pause, reason=reason, checked_at=now, checks=checks)
            self._pauses[platform] = still
            delay = self.recheck_delay(checks)
            self._next_check[platform] = now.timestamp() + delay
            await self._store.pause_platform(still)
            why = (
                "still rejects the credentials"
                if isinstance(exc, CredentialsRejected)
                else f"unreachable ({exc})"
            )
            log.info("%s %s; next check in %.0f s", platform.title(), why, delay)
            return
        woken = await self._store.resume_platform(platform, now=now)
        self._pauses.pop(platform, None)
        self._next_check.pop(platform, None)
        self.stats["resumed"] += 1
        log.warning(
            "%s accepts the credentials again: delivery resumed after %s; %d held-back alerts are due now",
            platform.title(),
            _hours(now - pause.since),
            woken,
            extra={"platform": platform, "outcome": "resumed"},
        )
        self._changed_state()
        self.wake()

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


def _consume(fut: asyncio.Future[None]) -> None:
    """Mark a batch future's exception as seen (its waiter may have been cancelled at shutdown)."""
    if not fut.cancelled():
        fut.exception()


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.1f} h" if hours >= 1 else f"{delta.total_seconds() / 60:.0f} min"

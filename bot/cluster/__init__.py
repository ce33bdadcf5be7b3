"""Several replicas on one database: this process's identity, its heartbeat, the leases it keeps.

``Node`` is this replica: an id (``host-pid``, the ``replica`` label of every metric and log
line), a heartbeat row refreshed every ``HEARTBEAT`` seconds, and a clean goodbye that gives
every lease and feed claim back at once. ``LeaseKeeper`` holds one named lease (the Discord
gateway, a scheduled job): ``run_once()`` takes or renews it and says whether this replica
holds it now; a holder that could not renew within the lease's life stops acting as holder
before anyone else can take over, so two replicas never both believe they hold it.

Both only need the store's coordination operations (``bot.ports.Coordination``); on SQLite
there is one process (``bot.store.db.one_process``) and every lease is simply its own.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.batching import Batcher
from bot.domain.cluster import Lease, Replica
from bot.domain.records import FeedState
from bot.ports import Clock, Coordination

log = logging.getLogger(__name__)

HEARTBEAT = 5.0  # seconds between heartbeats
DEAD_AFTER = 15.0  # a replica silent this long is considered dead (status, fair shares)
FORGET_AFTER = timedelta(days=1)  # rows of replicas dead this long are deleted
CATALOG_FOLLOW = 2.0  # seconds between checks for watchlist edits made on other replicas
GATEWAY_LEASE = "discord:gateway"  # the replica holding it runs the Discord gateway session
CLAIM_BATCH = 64  # feeds claimed by one statement at most (the scheduled polls waiting at once)
EARLY = 0.15  # an owner's tick may claim its feed this fraction of an interval before it is due


class Node:
    """This replica: its id, its heartbeat, the live replicas it can see."""

    def __init__(
        self, store: Coordination, clock: Clock, *, replica_id: str, host: str, pid: int, version: str
    ) -> None:
        self.store, self.clock = store, clock
        self.id, self.host, self.pid, self.version = replica_id, host, pid, version
        self.started_at = clock.now()
        self.roles: set[str] = set()
        self.peers: list[Replica] = []
        self.beat_at: datetime | None = None  # the time of the last heartbeat the database took

    def _row(self, now: datetime) -> Replica:
        return Replica(
            id=self.id,
            host=self.host,
            pid=self.pid,
            version=self.version,
            started_at=self.started_at,
            heartbeat_at=now,
            roles=tuple(sorted(self.roles)),
        )

    async def run_once(self) -> int:
        """Heartbeat; refresh the view of live replicas; forget long-dead ones. Returns how many live."""
        now = self.clock.now()
        rows = await self.store.beat(self._row(now), forget_before=now - FORGET_AFTER)  # one transaction
        self.beat_at = now
        self.peers = [r for r in rows if r.alive(now, timeout=DEAD_AFTER)]
        return len(self.peers)

    @property
    def live(self) -> int:
        """Live replicas at the last heartbeat (at least this one)."""
        return max(len(self.peers), 1)

    def share(self, total: int) -> int:
        """This replica's fair share of ``total`` units of work (rounded up, at least 1)."""
        return max(1, -(-total // self.live))

    async def turn(self, job: str, *, ttl: float) -> bool:
        """Whether this replica runs this tick of a once-cluster-wide job (it holds ``job:<job>``).

        The holder keeps its turn while it lives (renewing each tick); when it dies, the lease
        lapses after ``ttl`` and the next replica to tick takes over.
        """
        lease = await self.store.acquire_lease(f"job:{job}", self.id, now=self.clock.now(), ttl=ttl)
        return lease is not None

    async def leave(self) -> None:
        """A clean shutdown: the row goes and every lease and feed claim is given back now."""
        await self.store.forget_replica(self.id)


class LeaseKeeper:
    """Keeps one named lease for this replica while it can; see the module docstring.

    ``ttl`` is the lease's life; call ``run_once()`` about every ``ttl / 3`` seconds. On a
    change of holder ``on_change(held)`` runs (start or stop the gateway, say).
    """

    def __init__(
        self,
        store: Coordination,
        clock: Clock,
        *,
        name: str,
        holder: str,
        ttl: float,
        on_change: Callable[[bool], Awaitable[None]] | None = None,
    ) -> None:
        self.store, self.clock = store, clock
        self.name, self.holder, self.ttl = name, holder, ttl
        self.on_change = on_change
        self.lease: Lease | None = None
        self._valid_until: datetime | None = None

    @property
    def held(self) -> bool:
        now = self.clock.now()
        return self.lease is not None and self._valid_until is not None and now < self._valid_until

    async def run_once(self) -> bool:
        """Take or renew the lease; True while this replica holds it."""
        before = self.held
        started = self.clock.now()
        try:
            lease = await self.store.acquire_lease(self.name, self.holder, now=started, ttl=self.ttl)
        except Exception as exc:  # the database is away: keep acting only while the old lease lasts
            log.warning("lease %s: could not renew (%s)", self.name, exc)
            lease = self.lease if self.held else None
        else:
            # count the lease's life from before the request: a slow answer shortens it, never extends it
            self._valid_until = started + timedelta(seconds=self.ttl * 0.8) if lease is not None else None
        self.lease = lease
        now_held = self.held
        if now_held != before:
            log.info("lease %s: %s", self.name, "acquired" if now_held else "lost")
            if self.on_change is not None:
                await self.on_change(now_held)
        return now_held

    async def release(self) -> None:
        if self.lease is not None:
            await self.store.release_lease(self.name, self.holder)
        was = self.held
        self.lease, self._valid_until = None, None
        if was and self.on_change is not None:
            await self.on_change(False)


@dataclass(frozen=True, slots=True)
class ClaimRequest:
    """A scheduled poll asking to claim its feed: as the feed's owner, or as a stand-in for a
    silent owner (then only once the feed is an interval overdue)."""

    feed_id: str
    interval: float
    owner: bool


class FeedShare:
    """Which feeds this replica polls, and the database claims that make each poll exclusive.

    Each feed has an *owner* among the live replicas, chosen by rendezvous hashing (the replica
    whose hash of ``(replica id, feed id)`` is highest): every replica computes the same owner
    from the same heartbeat view, feeds spread evenly (binomially: about ±1.5 % for 10,000
    feeds on three replicas), and when a replica dies only its feeds move. The owner polls a
    feed when it is due; any other replica polls it only once it is a whole interval overdue
    (its owner died and the others do not know yet). Either way the poll first *claims* the
    feed in the database (``claim_due_feeds``: due by the stored ``next_poll_at``, no live
    claim), which reads the stored validators and backoff, so a feed is polled by one replica
    per interval whatever the heartbeat views say.

    Claims are batched (``claim``): the scheduled polls that ask while the previous claim
    statement is in flight are claimed together by the next one, at most ``max_batch`` feeds
    per statement, so a replica polling hundreds of feeds a second sends a few claim statements
    a second, each on one connection, not one per poll. A batch only ever holds feeds whose
    scheduled jobs are running on this replica (its owned feeds, and others' overdue ones), so
    no replica grabs the due feeds of the others in one go.
    """

    def __init__(self, node: Node, store: Coordination, *, max_batch: int = CLAIM_BATCH) -> None:
        self.node, self.store = node, store
        self._peers_seen: list[Replica] | None = None
        self._view_key: tuple[str, ...] = ()
        self._owns: dict[str, bool] = {}
        self.claims: Batcher[ClaimRequest, FeedState | None] = Batcher(
            self._claim_batch, max_batch=max_batch, orphaned=self._give_back
        )

    @property
    def holder(self) -> str:
        return self.node.id

    def _view(self) -> list[str]:
        ids = [r.id for r in self.node.peers] or [self.node.id]
        if self.node.id not in ids:
            ids.append(self.node.id)
        return ids

    def owner_of(self, feed_id: str) -> str:
        return feed_owner(feed_id, self._view())

    def owns(self, feed_id: str) -> bool:
        """Whether this replica owns the feed in its current view (remembered per view: the
        scheduled polls and the claim-ahead job ask about every feed)."""
        if self.node.peers is not self._peers_seen:  # a heartbeat brought a new view
            self._peers_seen = self.node.peers
            view = tuple(sorted(self._view()))
            if view != self._view_key:
                self._view_key, self._owns = view, {}
        mine = self._owns.get(feed_id)
        if mine is None:
            mine = self._owns[feed_id] = feed_owner(feed_id, self._view_key) == self.node.id
        return mine

    @staticmethod
    def alive_since(now: datetime) -> datetime:
        """Claims of replicas whose last heartbeat is older than this are void (they are dead)."""
        return now - timedelta(seconds=DEAD_AFTER)

    def owned(self, feed_ids: Iterable[str]) -> set[str]:
        """The feeds among ``feed_ids`` this replica owns in its current view of the live replicas."""
        return {fid for fid in feed_ids if self.owns(fid)}

    @staticmethod
    def ttl(interval: float) -> float:
        """A claim lasts one interval (at least a minute): a replica dying mid-poll holds it no longer."""
        return max(60.0, float(interval))

    @staticmethod
    def due_by(now: datetime, interval: float, *, owner: bool) -> datetime:
        """How late a feed's ``next_poll_at`` may be for this claim: a little ahead for the owner
        (its tick's jitter), a whole interval behind for anyone else."""
        step = timedelta(seconds=max(30, int(interval)))
        return now + step * EARLY if owner else now - step

    async def claim(self, feed_id: str, *, interval: float, owner: bool) -> FeedState | None:
        """Claim one due feed for this replica (batched with the claims of concurrent polls);
        its stored state, or None when it is not due or another replica holds it."""
        return await self.claims.submit(ClaimRequest(feed_id, float(interval), owner))

    async def _claim_batch(self, requests: list[ClaimRequest]) -> list[FeedState | None]:
        """One statement per kind of request in the batch (owner or not, and interval: usually one)."""
        now = self.node.clock.now()
        groups: dict[tuple[bool, float], list[str]] = {}
        for r in requests:
            groups.setdefault((r.owner, r.interval), []).append(r.feed_id)
        got: dict[str, FeedState] = {}
        for (owner, interval), ids in groups.items():
            ids = list(dict.fromkeys(ids))
            states = await self.store.claim_due_feeds(
                self.holder,
                now=now,
                ttl=self.ttl(interval),
                limit=len(ids),
                only=ids,
                due_by=self.due_by(now, interval, owner=owner),
                alive_since=self.alive_since(now),
            )
            got.update((s.id, s) for s in states)
        # the same feed asked for twice in one batch (two cycles): the first asker polls it
        out: list[FeedState | None] = []
        for r in requests:
            out.append(got.pop(r.feed_id, None))
        return out

    async def _give_back(self, orphans: list[tuple[ClaimRequest, FeedState | None]]) -> None:
        """Claims whose poll was cancelled while the batch ran: give them back now."""
        ids = sorted({r.feed_id for r, state in orphans if state is not None})
        if ids:
            await self.store.release_feeds(ids, self.holder)

    async def aclose(self) -> None:
        await self.claims.aclose()


def feed_owner(feed_id: str, replica_ids: Sequence[str]) -> str:
    """The replica among ``replica_ids`` that owns ``feed_id`` (rendezvous hashing; see ``FeedShare``)."""
    return max(replica_ids, key=lambda rid: _rendezvous(rid, feed_id))


def _rendezvous(replica_id: str, feed_id: str) -> int:
    digest = hashlib.blake2b(f"{replica_id}\x00{feed_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")

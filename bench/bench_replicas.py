"""Replicas benchmark: 10,000 feeds over three replicas on one PostgreSQL, against one replica.

A separate process serves the feeds from many loopback addresses with no delay (a fast feed
host: one small RSS document each, answering 304 to a matching If-None-Match). In this process,
"replicas" are full ingest runtimes — each its own store (own connection pool, as a process has),
heartbeat ``Node``, ``FeedShare`` and ``Poller`` — on one fresh PostgreSQL database. Time is a
manual clock that the bench moves on in slots of a tenth of the feed interval (120 s, the
default); in each slot every live replica runs the scheduled job (``Poller.poll_feed``) of the
feeds whose tick falls in it, 32 at a time, as APScheduler would, every minute its refresh
job and, with leases, its claim-ahead job as often as it runs (every ``CLAIM_EVERY`` = 10 s: once
or twice a slot, at the slot's end, before the next slot's ticks). Wall and CPU time are
measured around the slots.

Runs, in one database, one after the other (the first interval of each run warms it up):

1. one replica without leases (the one-process code path): the baseline;
2. one replica with leases (every poll's feed is claimed in the database, by the claim-ahead
   job's statement or, if that missed it, batched with the polls starting together, and
   released with its saved state);
3. three replicas with leases;
4. failover: mid-interval one of the three dies (SIGKILL-like: it stops, holding the claims of
   the feeds it was polling); the time until the last of its feeds is polled by another;
5. gateway failover: three ``GatewayLeader``\\ s on the real clock (10 s lease renewed every 3 s);
   the leader stops renewing; the real time until a standby holds the lease.

Figures: load spread (largest deviation of a replica's share of polls from the mean), lease
overhead per poll (extra wall time per poll of the three replicas against run 1: the claim
statements (claim-ahead and batched), the release riding on the state save, any claims
non-owners try, the heartbeats, the refresh jobs; CPU time too, steadier on a busy host), throughput of three replicas vs one, failover
times. All in one process on one host: wall figures move with the host's load.

    .venv/bin/python bench/bench_replicas.py [--feeds 10000] [--quick]

PostgreSQL: ``MARKETBOT_BENCH_POSTGRES_URL`` or ``MARKETBOT_TEST_POSTGRES_URL`` (a server the
bench may create and drop a database on), else postgresql+asyncpg://postgres@127.0.0.1:5432/postgres.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import multiprocessing as mp
import os
import socket
import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.summary import report  # noqa: E402

INTERVAL = 120  # seconds: every feed's polling interval (the default)
SLOTS = 10  # scheduler slots per interval (a feed's tick falls in one of them)
CONCURRENCY = 32  # scheduled jobs running at once per replica
REFRESH = 60  # seconds between the poller's refresh jobs (bot.ingest.poller.REFRESH_INTERVAL)
CLAIM_EVERY = 10  # seconds between the poller's claim-ahead jobs (bot.ingest.poller.CLAIM_EVERY)
T0 = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)


# ---------------------------------------------------------------- the feed host (child process)


def _serve(n_feeds: int, addresses: list[str], conn: Any) -> None:
    asyncio.run(_serve_async(n_feeds, addresses, conn))


async def _serve_async(n_feeds: int, addresses: list[str], conn: Any) -> None:
    from aiohttp import web

    from tests.fakes.feed_host import FeedHost, entry, rss

    host = FeedHost(addresses, record=False)
    await host.start()
    for i in range(n_feeds):
        body = rss(
            [entry(f"Bench headline {i}", f"https://news.example/{i}", guid=f"b{i}", published=T0)],
            title=f"Bench feed {i}",
        )
        host.serve(f"/feed/{i}", body, etag=f'"v{i}"')
    stop = asyncio.Event()

    async def halt(request: web.Request) -> web.Response:
        stop.set()
        return web.json_response({})

    control = web.Application()
    control.router.add_post("/stop", halt)
    runner = web.AppRunner(control, access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock).start()
    conn.send((host.port, sock.getsockname()[1]))
    await stop.wait()
    await runner.cleanup()
    await host.stop()


# ---------------------------------------------------------------- replicas


def slot_of(feed_id: str) -> int:
    """The slot of the interval in which a feed's scheduled job ticks."""
    return int.from_bytes(hashlib.blake2b(feed_id.encode(), digest_size=4).digest(), "big") % SLOTS


@dataclass
class Replica:
    name: str
    poller: Any
    node: Any = None
    stack: AsyncExitStack = field(default_factory=AsyncExitStack)
    polls: Counter[str] = field(default_factory=Counter)
    polled_at: dict[str, list[datetime]] = field(default_factory=dict)
    alive: bool = True

    async def tick(self, feed_ids: Sequence[str], clock: Any) -> int:
        """Run the scheduled jobs of these feeds (``CONCURRENCY`` at a time); how many polled."""
        slots = asyncio.Semaphore(CONCURRENCY)
        done = 0

        async def job(fid: str) -> None:
            nonlocal done
            async with slots:
                if await self.poller.poll_feed(fid) is not None:
                    done += 1
                    self.polls[fid] += 1
                    self.polled_at.setdefault(fid, []).append(clock.now())

        await asyncio.gather(*(job(f) for f in feed_ids))
        return done


@dataclass
class Interval:
    polls: dict[str, int]
    wall_s: float
    cpu_s: float

    @property
    def total(self) -> int:
        return sum(self.polls.values())


class World:
    def __init__(self, url: str, urls: list[str], clock: Any) -> None:
        from bot.config import IngestConfig
        from bot.domain.records import FeedSpec
        from bot.ingest.sources import FeedSource

        self.url = url
        self.clock = clock
        self.sources = [
            FeedSource(FeedSpec(id=f"bench:{i:05d}", name=f"Bench {i}", url=u, interval=INTERVAL))
            for i, u in enumerate(urls)
        ]
        self.ids = [s.spec.id for s in self.sources]
        self.by_slot: list[list[str]] = [[] for _ in range(SLOTS)]
        for fid in self.ids:
            self.by_slot[slot_of(fid)].append(fid)
        self.config = IngestConfig(global_limit=256, per_host_limit=16, total_timeout=30)

    async def replica(self, name: str, *, leases: bool) -> Replica:
        from bot.cluster import FeedShare, Node
        from bot.ingest.poller import Poller
        from bot.store import open_store

        stack = AsyncExitStack()
        store = await stack.enter_async_context(open_store(self.url))
        node = share = None
        if leases:
            node = Node(store, self.clock, replica_id=name, host="bench", pid=os.getpid(), version="bench")
            share = FeedShare(node, store)
        poller = Poller(store=store, sources=self.sources, config=self.config, clock=self.clock, share=share)
        await stack.enter_async_context(poller)
        return Replica(name, poller, node, stack)

    async def heartbeats(self, replicas: Sequence[Replica]) -> None:
        for r in replicas:
            if r.alive and r.node is not None:
                await r.node.run_once()

    async def slot(self, replicas: Sequence[Replica], n: int) -> None:
        feeds = self.by_slot[n % SLOTS]
        await asyncio.gather(*(r.tick(feeds, self.clock) for r in replicas if r.alive))
        before = self.clock.now()
        self.clock.advance(timedelta(seconds=INTERVAL / SLOTS))
        await self.heartbeats(replicas)
        runs = int(self.clock.now().timestamp() // CLAIM_EVERY) - int(before.timestamp() // CLAIM_EVERY)
        for r in replicas:  # the poller's claim-ahead job, as many times as it ran in the slot
            if r.alive and r.poller.share is not None:
                for _ in range(runs):
                    await r.poller.claim_ahead()
        if int(self.clock.now().timestamp() // REFRESH) != int(before.timestamp() // REFRESH):
            for r in replicas:  # the poller's refresh job (sources and the store's feed states)
                if r.alive:
                    await r.poller.refresh()

    async def interval(self, replicas: Sequence[Replica]) -> Interval:
        before = {r.name: sum(r.polls.values()) for r in replicas}
        wall0, cpu0 = time.perf_counter(), time.process_time()
        for n in range(SLOTS):
            await self.slot(replicas, n)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        return Interval({r.name: sum(r.polls.values()) - before[r.name] for r in replicas}, wall, cpu)


# ---------------------------------------------------------------- the runs


def per_poll_ms(iv: Interval, what: str = "wall") -> float:
    return (iv.wall_s if what == "wall" else iv.cpu_s) / max(iv.total, 1) * 1000


async def feeds_bench(world: World) -> dict[str, Any]:
    out: dict[str, Any] = {}
    # 1. one replica, no leases: first interval fetches everything (200), the second is all 304
    plain = await world.replica("plain", leases=False)
    first = await world.interval([plain])
    base = await world.interval([plain])
    await plain.stack.aclose()
    print(f"first interval (all 200, stored): {first.total} polls in {first.wall_s:.1f} s")
    print(
        f"1 replica, no leases:   {base.total} polls, {per_poll_ms(base):.3f} ms wall/poll, "
        f"{per_poll_ms(base, 'cpu'):.3f} ms CPU/poll"
    )

    # 2. one replica with leases
    one = await world.replica("one", leases=True)
    await world.heartbeats([one])
    await world.interval([one])
    solo = await world.interval([one])
    await one.node.leave()
    await one.stack.aclose()
    print(
        f"1 replica, leases:      {solo.total} polls, {per_poll_ms(solo):.3f} ms wall/poll, "
        f"{per_poll_ms(solo, 'cpu'):.3f} ms CPU/poll"
    )

    # 3. three replicas with leases
    trio = [await world.replica(f"r{n}", leases=True) for n in (1, 2, 3)]
    for _ in range(2):
        await world.heartbeats(trio)  # every replica sees the three
    warm = await world.interval(trio)
    three = await world.interval(trio)
    print(
        f"3 replicas, leases:     {three.total} polls, {per_poll_ms(three):.3f} ms wall/poll, "
        f"{per_poll_ms(three, 'cpu'):.3f} ms CPU/poll; shares {three.polls} "
        f"(warm-up interval: {warm.total} polls)"
    )
    both = sum((r.polls for r in trio), Counter())  # the warm-up and the measured interval
    doubled = sum(1 for n in both.values() if n > 2)
    mean = three.total / 3
    spread = max(abs(n - mean) / mean for n in three.polls.values()) * 100
    out.update(
        polls_per_interval=three.total,
        feeds=len(world.ids),
        spread_pct=spread,
        overhead_one_ms=per_poll_ms(solo) - per_poll_ms(base),
        overhead_three_ms=per_poll_ms(three) - per_poll_ms(base),
        overhead_three_cpu_ms=per_poll_ms(three, "cpu") - per_poll_ms(base, "cpu"),
        throughput_ratio=(three.total / three.wall_s) / (solo.total / solo.wall_s),
        overpolled=doubled,
    )

    # 4. failover: r3 dies in the middle of an interval, holding the claims of the feeds it polls
    dead = trio[2]
    survivors = trio[:2]
    for n in range(SLOTS // 2):
        await world.slot(trio, n)
    killed_at = world.clock.now()
    theirs = [f for f in world.ids if dead.poller.share.owns(f)]
    mid = world.by_slot[SLOTS // 2]
    held = await dead.poller.share.store.claim_due_feeds(
        dead.name,
        now=killed_at,
        ttl=float(INTERVAL),
        limit=len(mid),
        only=[f for f in mid if f in set(theirs)],
        due_by=killed_at + timedelta(seconds=INTERVAL * 0.15),
    )
    ahead = dead.poller.claimed_ahead & set(theirs)  # claimed by its claim-ahead job at the slot's end
    dead.alive = False  # no goodbye: its heartbeat stops, its claims lapse by themselves
    since = {r.name: {f: len(r.polled_at.get(f, [])) for f in theirs} for r in survivors}
    taken: dict[str, datetime] = {}
    n = SLOTS // 2
    while len(taken) < len(theirs) and n < SLOTS // 2 + 5 * SLOTS:
        await world.slot(trio, n)
        n += 1
        for r in survivors:
            for f in theirs:
                if f not in taken and len(r.polled_at.get(f, [])) > since[r.name][f]:
                    taken[f] = r.polled_at[f][since[r.name][f]]
    last = max(taken.values()) if taken else world.clock.now()
    out.update(
        failover_feeds=len(theirs),
        failover_claims_held=len(held) + len(ahead),
        failover_taken=len(taken),
        failover_s=(last - killed_at).total_seconds(),
        failover_intervals=(last - killed_at).total_seconds() / INTERVAL,
    )
    print(
        f"failover: r3 died owning {len(theirs)} feeds ({len(held)} claimed mid-poll, "
        f"{len(ahead)} claimed ahead); "
        f"{len(taken)} polled by r1/r2, the last {out['failover_s']:.0f} s after its death "
        f"({out['failover_intervals']:.2f} intervals of {INTERVAL} s)"
    )
    for r in survivors:
        await r.node.leave()
        await r.stack.aclose()
    await dead.stack.aclose()
    return out


class Switch:
    """Stands for the Discord adapter's gateway session: records when it is switched on."""

    def __init__(self) -> None:
        self.on = False
        self.since = 0.0

    async def set_gateway(self, on: bool) -> None:
        self.on, self.since = on, time.monotonic()


async def gateway_bench(url: str) -> float:
    from bot.cluster.gateway import GatewayLeader
    from bot.domain.timeutil import SystemClock
    from bot.store import open_store

    async with AsyncExitStack() as stack:
        leaders = []
        for n in range(3):
            store = await stack.enter_async_context(open_store(url))
            switch = Switch()
            leader = GatewayLeader(store, SystemClock(), holder=f"gw{n}", switch=switch)
            leaders.append((leader, switch))
            leader.start()
        while not any(s.on for _, s in leaders):
            await asyncio.sleep(0.05)
        boss = next(lead for lead, s in leaders if s.on)
        assert boss._task is not None
        boss._task.cancel()  # SIGKILL-like: it stops renewing and never releases the lease
        died = time.monotonic()
        while not any(s.on and lead is not boss for lead, s in leaders):
            await asyncio.sleep(0.05)
        took = min(s.since for lead, s in leaders if s.on and lead is not boss) - died
        for lead, _ in leaders:
            if lead is not boss:
                await lead.aclose()
        return took


async def main_async(args: argparse.Namespace, feed_port: int, addresses: list[str]) -> dict[str, Any]:
    from sqlalchemy.engine import make_url

    from bot.domain.timeutil import ManualClock

    base = (
        os.environ.get("MARKETBOT_BENCH_POSTGRES_URL")
        or os.environ.get("MARKETBOT_TEST_POSTGRES_URL")
        or "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    )
    name = f"mb_bench_{uuid.uuid4().hex[:10]}"
    try:
        await _admin(base, f'CREATE DATABASE "{name}"')
    except Exception as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        where = make_url(base).render_as_string(hide_password=True)
        raise SystemExit(
            f"bench_replicas needs a PostgreSQL server it may create a database on: {where} "
            f"refused ({reason}); set MARKETBOT_BENCH_POSTGRES_URL"
        ) from None
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    try:
        urls = [f"http://{addresses[i % len(addresses)]}:{feed_port}/feed/{i}" for i in range(args.feeds)]
        world = World(url, urls, ManualClock(T0))
        out = await feeds_bench(world)
        out["gateway_s"] = await gateway_bench(url)
        print(f"gateway failover: a standby holds the lease {out['gateway_s']:.1f} s after the leader died")
        return out
    finally:
        await _admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _admin(url: str, sql: str) -> None:
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text(sql))
    finally:
        await engine.dispose()


async def _stop(port: int) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as s, s.post(f"http://127.0.0.1:{port}/stop") as r:
        r.raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--feeds", type=int, default=10_000)
    parser.add_argument("--hosts", type=int, default=40, help="loopback addresses to spread the feeds over")
    parser.add_argument("--quick", action="store_true", help="a small run: 1,000 feeds")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # progress as it goes
    if args.quick:
        args.feeds = min(args.feeds, 1000)
    addresses = [f"127.0.{1 + i // 250}.{1 + i % 250}" for i in range(args.hosts)]
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=_serve, args=(args.feeds, addresses, child), daemon=True)
    server.start()
    feed_port, ctl_port = parent.recv()
    try:
        r = asyncio.run(main_async(args, feed_port, addresses))
    finally:
        try:
            asyncio.run(_stop(ctl_port))
        except Exception:
            pass
        server.join(timeout=5)
        if server.is_alive():
            server.terminate()

    feeds = r["feeds"]
    print(f"\n{feeds} feeds, interval {INTERVAL} s, 3 replicas on one PostgreSQL vs 1:")
    print(
        f"  throughput 3 replicas / 1 replica (polls per wall second, one host): {r['throughput_ratio']:.2f}x"
    )
    print(f"  feeds polled more than once per interval by the three replicas: {r['overpolled']}")
    report(
        f"load spread, {feeds} feeds over 3 replicas",
        f"±{r['spread_pct']:.1f}% of the mean share",
        "within ±15%",
        r["spread_pct"] <= 15.0,
    )
    report(
        f"lease overhead per poll, {feeds} feeds (vs 1 replica without leases)",
        f"{r['overhead_three_ms']:.3f} ms wall ({r['overhead_three_cpu_ms']:.3f} ms CPU; 1 replica {r['overhead_one_ms']:.3f} ms)",
        "≤ 1 ms",
        r["overhead_three_ms"] <= 1.0,
    )
    report(
        "feed failover (a replica killed mid-interval)",
        f"{r['failover_intervals']:.2f} intervals ({r['failover_s']:.0f} s; {r['failover_taken']}/{r['failover_feeds']} feeds)",
        "≤ 2 intervals",
        r["failover_taken"] == r["failover_feeds"] and r["failover_intervals"] <= 2.0,
    )
    report(
        "gateway failover (leader killed)",
        f"{r['gateway_s']:.1f} s",
        "≤ 15 s",
        r["gateway_s"] <= 15.0,
    )


if __name__ == "__main__":
    main()

"""Responsiveness under load: event-loop lag and slash-command acks while a poll cycle runs.

Run: ``.venv/bin/python bench/bench_responsiveness.py [--feeds 1000] [--watchlists 10000] [--quick]``

One event loop holds what the bot runs together: the real poller over N feeds on loopback
(served by a separate process, 100 ms per response, like bench_ingest), the real rule engine
with M watchlists compiled by the catalog, the real CommandService and the real Slack adapter
(slack-bolt, Socket Mode) against the Slack fake. While a cycle with 10% of the feeds changed
(20 new items each: fetch, parse, cluster, store, and the real AlertPipeline: match, queue
alerts for the subscribed watchlists) runs, a user types ``/watch subscriptions`` every 100 ms; a probe task measures how late the loop wakes it (a 10 ms sleep). The baseline,
in the same run, is the same commands and probe with the bot idle. ``--quick``: 200 feeds,
2,000 watchlists.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing as mp
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_ingest import _control, _serve
from bench.bench_rules import Scenario, ticker_pool
from bench.summary import report
from bot.app import command_options
from bot.app.interpreter import settle, tune_interpreter
from bot.catalog import Catalog
from bot.chat.slack_app import SlackAdapter
from bot.commands import CommandService
from bot.config import IngestConfig, parse_config
from bot.delivery.pipeline import AlertPipeline
from bot.domain.models import ChannelRef, Quote, Story
from bot.domain.records import FeedSpec, SubscriptionSpec
from bot.domain.timeutil import SystemClock
from bot.ingest.poller import Poller
from bot.ingest.sources import FeedSource
from bot.market.sessions import ExchangeCalendar
from bot.market.symbols import load_directory
from bot.store import open_store
from tests.fakes.slack import FakeSlack


class NoQuotes:
    """A QuoteSource with no prices (alerts go out without them)."""

    async def quotes(self, symbols: list[str]) -> dict[str, Quote]:
        return {s: Quote(s, None, None, None, None, None, None, reason="no prices here") for s in symbols}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def measure(fake: FakeSlack, work: asyncio.Task[object] | None, idle_commands: int) -> dict[str, float]:
    """Loop lag samples and command acks while ``work`` runs (or for ``idle_commands`` commands)."""
    lags: list[float] = []
    acks: list[float] = []
    stop = asyncio.Event()
    pauses: list[tuple[int, float]] = []  # (generation, seconds) of each collection meanwhile
    gc_started = 0.0

    def on_gc(phase: str, info: dict[str, int]) -> None:
        nonlocal gc_started
        if phase == "start":
            gc_started = time.perf_counter()
        else:
            pauses.append((info["generation"], time.perf_counter() - gc_started))

    gc.callbacks.append(on_gc)

    async def probe() -> None:
        while not stop.is_set():
            t0 = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append(time.perf_counter() - t0 - 0.01)

    prober = asyncio.create_task(probe())
    started = time.perf_counter()
    sent = 0
    while (work is not None and not work.done()) or (work is None and sent < idle_commands):
        result = await fake.slash_command("/watch", "subscriptions")
        sent += 1
        if result.ack_seconds is not None:
            acks.append(result.ack_seconds)
        else:
            acks.append(3.0)  # not acknowledged within Slack's deadline: the user saw an error
        await asyncio.sleep(0.1)
    took = time.perf_counter() - started
    if work is not None:
        await work
    stop.set()
    await prober
    gc.callbacks.remove(on_gc)
    full = [t for g, t in pauses if g == 2]
    return {
        "gc_full": len(full),
        "gc_full_max": max(full, default=0.0),
        "gc_max": max((t for _, t in pauses), default=0.0),
        "lag_p99": pct(lags, 0.99),
        "lag_max": max(lags),
        "ack_p95": pct(acks, 0.95),
        "ack_median": statistics.median(acks),
        "commands": sent,
        "seconds": took,
    }


async def bench(args: argparse.Namespace, feed_port: int, ctl_port: int, addresses: list[str]) -> None:
    directory = load_directory()
    watchlists = Scenario("niche", ticker_pool(directory), random.Random(3)).watchlists(args.watchlists)
    cfg = parse_config("timezone: America/New_York\n")
    urls = [f"http://{addresses[i % len(addresses)]}:{feed_port}/feed/{i}" for i in range(args.feeds)]
    sources = [
        FeedSource(FeedSpec(id=f"bench:{i}", name=f"Bench {i}", url=url, interval=600))
        for i, url in enumerate(urls)
    ]
    matched = 0
    tune_interpreter()  # as ``marketbot run`` does before its services open
    with tempfile.TemporaryDirectory() as tmp:
        async with open_store(f"sqlite+aiosqlite:///{tmp}/bench.db") as store, FakeSlack() as fake:
            catalog = Catalog(store=store, config_watchlists=watchlists, directory=directory)
            await catalog.reload()
            service = CommandService(
                store, catalog, NoQuotes(), None, directory, command_options(cfg), SystemClock()
            )  # type: ignore[arg-type]
            adapter = SlackAdapter(
                bot_token=fake.bot_token, app_token=fake.app_token, api_url=fake.api_url, commands=service
            )
            await adapter.start()

            await store.sync_config_subscriptions(
                [SubscriptionSpec(w.name, ChannelRef("console", "console")) for w in watchlists[::100]]
            )
            calendar = ExchangeCalendar(cfg.market.exchange)
            pipeline = AlertPipeline(
                store,
                catalog,
                NoQuotes(),
                calendar,
                cfg.delivery,
                SystemClock(),
                tz=cfg.tz,
                max_age=cfg.ingest.max_age,
            )  # type: ignore[arg-type]

            async def on_stories(stories: list[Story]) -> None:
                nonlocal matched
                matched += await pipeline.process(stories)

            config = IngestConfig(global_limit=100, per_host_limit=2)
            try:
                async with Poller(
                    store=store, sources=sources, config=config, on_stories=on_stories
                ) as poller:
                    settle()  # as ``marketbot run`` does once start-up has loaded everything
                    await poller.run_once()  # the first poll: every feed new, stored
                    settle()  # and once the first poll is done
                    idle = await measure(fake, None, 20)
                    changed = random.Random(7).sample(range(args.feeds), args.feeds // 10)
                    await _control(ctl_port, "/advance", changed)
                    cycle = asyncio.create_task(poller.run_once())
                    busy = await measure(fake, cycle, 0)
            finally:
                await pipeline.aclose()
                await adapter.aclose()
    print(
        f"{args.feeds:,} feeds (10% changed, 20 new items each), {args.watchlists:,} watchlists, "
        f"{matched:,} alerts queued in the cycle"
    )
    for label, r in (("idle (baseline)", idle), ("during the cycle", busy)):
        print(
            f"  {label:17} loop lag p99 {r['lag_p99'] * 1000:6.1f} ms (max {r['lag_max'] * 1000:.0f} ms); "
            f"/watch subscriptions ack median {r['ack_median'] * 1000:.0f} ms, p95 {r['ack_p95'] * 1000:.0f} ms "
            f"over {r['commands']:.0f} commands in {r['seconds']:.1f} s; "
            f"{r['gc_full']:.0f} full collections (longest {r['gc_full_max'] * 1000:.0f} ms), "
            f"longest collection {r['gc_max'] * 1000:.0f} ms"
        )
    n = f"{args.feeds:,} feeds, {args.watchlists:,} watchlists"
    lag, ack = busy["lag_p99"] * 1000, busy["ack_p95"] * 1000
    report(
        f"event-loop lag p99 during a cycle ({n})",
        f"{lag:.1f} ms (idle {idle['lag_p99'] * 1000:.1f} ms)",
        "<= 50 ms",
        lag <= 50,
    )
    report(
        f"slash-command ack p95 during a cycle ({n})",
        f"{ack:.0f} ms (idle {idle['ack_p95'] * 1000:.0f} ms)",
        "<= 300 ms",
        ack <= 300,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("--feeds", type=int, default=1_000)
    ap.add_argument("--watchlists", type=int, default=10_000)
    ap.add_argument("--hosts", type=int, default=200)
    ap.add_argument("--delay", type=float, default=0.1)
    ap.add_argument("--quick", action="store_true", help="200 feeds, 2,000 watchlists")
    args = ap.parse_args()
    if args.quick:
        args.feeds, args.watchlists, args.hosts = min(args.feeds, 200), min(args.watchlists, 2_000), 40
    addresses = [f"127.0.{1 + i // 250}.{1 + i % 250}" for i in range(args.hosts)]
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=_serve, args=(args.feeds, addresses, args.delay, child), daemon=True)
    server.start()
    feed_port, ctl_port = parent.recv()
    try:
        asyncio.run(bench(args, feed_port, ctl_port, addresses))
    finally:
        try:
            asyncio.run(_control(ctl_port, "/stop"))
        except Exception:
            pass
        server.join(timeout=5)
        if server.is_alive():
            server.terminate()


if __name__ == "__main__":
    main()

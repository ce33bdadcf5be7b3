"""Delivery benchmark: dispatcher overhead per alert, and a large backlog drained at the rate limits.

Run: ``.venv/bin/python bench/bench_delivery.py [--alerts 10000] [--channels 100] [--quick]
[--postgres URL]``

Part 1 — overhead per alert, excluding the network. N alerts queued across C channels in a
SQLite file (WAL), sent through an adapter that answers at once and has no rate limit. Prints
the dispatcher's cost per alert (claim, send bookkeeping, ``mark_sent``) and, as the baseline
measured in the same run on an identical database, the raw store cost of the same work (a
bare ``claim_due``/``mark_sent`` loop with no dispatcher around it), and their ratio.
With ``--postgres URL`` (a server where the bench may create databases) the same on PostgreSQL.

Part 2 — a backlog drained at the platforms' real rate limits, in real time. N alerts across
C channels, half Slack (1 message/s per channel), half Discord (5 per 5 s per channel). Prints
the wall time against the ideal time the rate limits allow, rate-limit violations observed by
the adapter (0 expected), and resident memory sampled while draining — at N and, as the
baseline, at N/10 (flat memory: the peak does not grow with the backlog). Also the naive
loop most bots use (send one, sleep for the platform's interval, next) timed on a few alerts
in the same run and scaled linearly to N, with the speed-up over it.
Part 1b — the same overhead with every alert for one fast channel (console, webhook: no rate
limit), as alerts per second. ``--postgres`` (default: $MARKETBOT_TEST_POSTGRES_URL) measures
parts 1 and 1b on PostgreSQL too.
``--quick`` uses 2,000 alerts for part 1 and 1,000 for part 2 (about 10 s instead of about 100 s).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.summary import report
from bot.cluster import DEAD_AFTER
from bot.config import parse_config
from bot.delivery.dispatcher import Dispatcher
from bot.domain.models import Alert, ChannelRef, MessageRef, Reply, TickerLine
from bot.domain.records import OutboxEntry, SubscriptionSpec
from bot.domain.timeutil import SystemClock
from bot.store import SqlStore, open_store
from tests.support import factories
from tests.support.factories import quote

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 1e6


class NullChat:
    """A ChatAdapter that accepts every message at once and remembers only when each channel got one."""

    def __init__(self, platform: str, channel_rate: tuple[int, float], *, keep_times: bool = False) -> None:
        self.platform = platform
        self.channel_rate = channel_rate
        self.sent = 0
        self.keep_times = keep_times
        self.times: dict[str, list[float]] = defaultdict(list)

    async def send(
        self, message: Alert | Reply, *, target: ChannelRef, thread: MessageRef | None = None
    ) -> MessageRef:
        self.sent += 1
        if self.keep_times:
            self.times[target.channel].append(time.time())  # the dispatcher's clock is wall time
        return MessageRef(target, str(self.sent))

    async def edit(self, ref: MessageRef, message: Alert | Reply) -> None:
        return None

    def violations(self) -> int:
        """Sends beyond the channel budget in any window (a little slack for timer jitter)."""
        n, per = self.channel_rate
        bad = 0
        for times in self.times.values():
            for i in range(n, len(times)):
                if times[i] - times[i - n] < per * 0.98:
                    bad += 1
        return bad


def channels(count: int) -> list[ChannelRef]:
    out = []
    for i in range(count):
        if i % 2 == 0:
            out.append(ChannelRef("slack", f"C{i:09d}", "T1"))
        else:
            out.append(ChannelRef("discord", f"{112233445566778899 + i}", "G1"))
    return out


def alert(key: str, channel: ChannelRef, now: datetime) -> Alert:
    """A realistic story alert: title, summary, four tickers with quotes, terms (the tests' factory)."""
    q = [
        TickerLine(
            sym,
            quote(sym, 100.0 + i, 1.01, previous_close=99.0, change=1.0 + i, as_of=now, currency="USD"),
            i < 2,
        )
        for i, sym in enumerate(("AMZN", "MSFT", "NVDA", "BABA"))
    ]
    return factories.alert(
        key,
        channel=channel,
        title="Amazon and Microsoft expand cloud regions as China export controls tighten on AI chips",
        link=f"https://news.example/markets/{key}",
        published_at=now,
        summary="The companies said on Tuesday they would add capacity in three regions, citing demand "
        "from enterprise customers; analysts expect the move to pressure margins in the near term.",
        tickers=tuple(q),
        terms=("cloud", "export control"),
        story_id=key,
        created_at=now,
    )


async def fill(store: SqlStore, n: int, chans: list[ChannelRef], now: datetime) -> None:
    """One subscription per channel and N alerts for them, round-robin (as a busy feed would)."""
    subs = [
        (await store.add_subscription(SubscriptionSpec("cloud-china", ch, scope="config"))).id for ch in chans
    ]
    batch: list[OutboxEntry] = []
    for i in range(n):
        ch = chans[i % len(chans)]
        sub = subs[i % len(chans)]
        key = f"story:{i:06d}:sub:{sub}"
        batch.append(factories.entry(key, sub, at=now, alert_of=alert(key, ch, now)))
        if len(batch) == 1000:
            await store.enqueue(batch)
            batch = []
    if batch:
        await store.enqueue(batch)


def config(**delivery: object) -> object:
    body = "".join(f"  {k}: {v}\n" for k, v in delivery.items())
    return parse_config("delivery:\n" + body if body else "")


# ---------------------------------------------------------------- part 1


async def raw_store_loop(store: SqlStore, now: datetime, expected: int) -> float:
    """The baseline: claim and mark sent with nothing else, as fast as the store allows."""
    started = time.perf_counter()
    done = 0
    while done < expected:
        got = await store.claim_due(now=now, limit=256, lease=timedelta(seconds=60), worker="raw")
        if not got:
            break
        for e in got:
            await store.mark_sent(e.id, ref=MessageRef(e.alert.channel, "1"), now=now)  # type: ignore[arg-type]
        done += len(got)
    assert done == expected, (done, expected)
    return time.perf_counter() - started


async def overhead(
    url_for: object, n: int, chan_count: int, label: str, *, replicas: bool = False
) -> tuple[float, float]:
    """Dispatcher ms per alert and alerts per second (wall), with the raw-store baseline printed.

    ``replicas``: the dispatcher as ``marketbot run`` makes it on PostgreSQL (claims of dead
    replicas taken over, leases renewed).
    """
    chans = channels(chan_count)
    now = datetime.now(UTC)
    fast = {"slack": NullChat("slack", (10**9, 1.0)), "discord": NullChat("discord", (10**9, 1.0))}
    cfg = config()

    async with open_store(await url_for()) as store:  # type: ignore[operator]
        await fill(store, n, chans, now)
        gc.collect()
        raw = await raw_store_loop(store, now, n)

    async with open_store(await url_for()) as store:  # type: ignore[operator]
        await fill(store, n, chans, now)
        gc.collect()
        d = Dispatcher(
            store,  # type: ignore[arg-type]
            fast,  # type: ignore[arg-type]
            cfg.delivery,  # type: ignore[attr-defined]
            SystemClock(),
            "bench",
            dead_after=DEAD_AFTER if replicas else None,
        )
        started = time.perf_counter()
        report = await d.drain()
        took = time.perf_counter() - started
        await d.aclose()
    assert report.sent == n, report
    per = took / n * 1000
    raw_per = raw / n * 1000
    print(
        f"[{label}] dispatcher: {n} alerts across {chan_count} channels in {took:.2f} s = {per:.3f} ms/alert"
    )
    print(f"[{label}] baseline, raw store claim+mark_sent loop: {raw:.2f} s = {raw_per:.3f} ms/alert")
    print(
        f"[{label}] dispatcher overhead over the raw store: {per - raw_per:+.3f} ms/alert "
        f"(ratio {per / raw_per:.2f}x); target <= 1 ms/alert in total: {'OK' if per <= 1 else 'MISSED'}"
    )
    return per, n / took


# ---------------------------------------------------------------- part 2


async def drain_at_rate(url: str, n: int, chan_count: int) -> dict[str, float]:
    chans = channels(chan_count)
    now = datetime.now(UTC)
    adapters = {
        "slack": NullChat("slack", (1, 1.0), keep_times=True),
        "discord": NullChat("discord", (5, 5.0), keep_times=True),
    }
    per_channel = -(-n // chan_count)
    ideal = max(per_channel - 1, 0) * 1.0  # Slack: one per second after the first
    ideal = max(ideal, max(per_channel - 5, 0) * 1.0)  # Discord: five at once, then one per second
    async with open_store(url) as store:
        await fill(store, n, chans, now)
        gc.collect()
        d = Dispatcher(store, adapters, config().delivery, SystemClock(), "bench")  # type: ignore[arg-type]
        base = rss_mb()
        peak = base
        task = asyncio.create_task(d.drain())
        started = time.perf_counter()
        cpu0 = time.process_time()
        while not task.done():
            await asyncio.sleep(0.25)
            peak = max(peak, rss_mb())
        report = task.result()
        took = time.perf_counter() - started
        cpu = time.process_time() - cpu0
        await d.aclose()
    sent = sum(a.sent for a in adapters.values())
    assert report.sent == n == sent, (report, sent)
    return {
        "took": took,
        "cpu_ms": cpu / n * 1000,
        "ideal": ideal,
        "base": base,
        "peak": peak,
        "violations": sum(a.violations() for a in adapters.values()),
        "slack_violations": adapters["slack"].violations(),
    }


async def naive_loop(count: int) -> float:
    """What many bots do: send one, sleep the platform's interval, send the next."""
    chat = NullChat("slack", (1, 1.0))
    ch = ChannelRef("slack", "C000000001", "T1")
    now = datetime.now(UTC)
    started = time.perf_counter()
    for i in range(count):
        await chat.send(alert(f"n{i}", ch, now), target=ch)
        await asyncio.sleep(1.0)
    return time.perf_counter() - started


async def main_async(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-delivery-"))

    async def sqlite_url() -> str:
        return f"sqlite+aiosqlite:///{tmp / (uuid.uuid4().hex + '.db')}"

    n1 = min(args.alerts, 2_000) if args.quick else args.alerts
    print(
        f"Part 1: dispatcher overhead per alert, excluding the network ({n1} alerts, {args.channels} channels)"
    )
    per, _ = await overhead(sqlite_url, n1, args.channels, "sqlite")
    report(f"dispatcher, {args.channels} channels, SQLite", f"{per:.3f} ms/alert", "<= 1 ms/alert", per <= 1)
    one = min(n1, 2_000)
    print(f"\nPart 1b: {one} alerts into one fast channel (no rate limit: console, webhook)")
    _, rate = await overhead(sqlite_url, one, 1, "sqlite, one channel")
    report("alerts into one fast channel, SQLite", f"{rate:,.0f} alerts/s", ">= 300 alerts/s", rate >= 300)
    if args.postgres:
        from tests.conftest import PostgresServer

        server = PostgresServer(args.postgres)
        server.setup()
        try:
            per, _ = await overhead(server.new_database, n1, args.channels, "postgresql", replicas=True)
            report(
                f"dispatcher, {args.channels} channels, PostgreSQL",
                f"{per:.3f} ms/alert",
                "<= 1 ms/alert",
                per <= 1,
            )
            _, rate = await overhead(server.new_database, one, 1, "postgresql, one channel", replicas=True)
            report(
                "alerts into one fast channel, PostgreSQL",
                f"{rate:,.0f} alerts/s",
                ">= 300 alerts/s",
                rate >= 300,
            )
        finally:
            server.teardown()

    n = 1000 if args.quick else args.alerts
    small = max(n // 10, args.channels)
    print(f"\nPart 2: {n} alerts across {args.channels} channels at the platforms' rate limits, in real time")
    print("  (half Slack: 1/s per channel; half Discord: 5 per 5 s per channel)")
    baseline = await drain_at_rate(await sqlite_url(), small, args.channels)
    full = await drain_at_rate(await sqlite_url(), n, args.channels)
    for label, r, count in (("baseline", baseline, small), ("full", full, n)):
        ideal = (
            f"ideal under the rate limits {r['ideal']:.0f} s, ratio {r['took'] / r['ideal']:.2f}"
            if r["ideal"] >= 1
            else "one alert per channel: no rate-limit wait"
        )
        print(
            f"  [{label} {count}] drained in {r['took']:.1f} s ({ideal}); rate-limit violations: "
            f"{r['violations']:.0f}; CPU {r['cpu_ms']:.2f} ms/alert; RSS {r['base']:.0f} MB at start, peak {r['peak']:.0f} MB "
            f"(+{r['peak'] - r['base']:.1f} MB)"
        )
    growth = (full["peak"] - full["base"]) - (baseline["peak"] - baseline["base"])
    print(
        f"  memory while draining {n} vs {small}: {growth:+.1f} MB more at {n // small}x the backlog "
        f"({'flat' if growth < 20 else 'GROWS'})"
    )
    report(
        f"rate-limit violations draining {n} alerts",
        f"{full['violations']:.0f}",
        "0",
        full["violations"] == 0,
    )
    if full["ideal"] >= 1:
        ratio = full["took"] / full["ideal"]
        report(f"backlog of {n} drained vs the rate limits' ideal", f"{ratio:.2f}x", "<= 1.2x", ratio <= 1.2)
    sample = 5
    naive = await naive_loop(sample)
    naive_n = naive / sample * n
    print(
        f"  naive send-and-sleep loop: {naive:.1f} s for {sample} alerts -> {naive_n:.0f} s for {n} (scaled); "
        f"the dispatcher is {naive_n / full['took']:.0f}x faster"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--channels", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="1,000 alerts in part 2 (about 10 s)")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("MARKETBOT_TEST_POSTGRES_URL", ""),
        help="also measure part 1 on this PostgreSQL server (default: $MARKETBOT_TEST_POSTGRES_URL)",
    )
    args = parser.parse_args()
    random.seed(1)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()

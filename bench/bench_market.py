"""Market benchmark: cached quotes, one 50-symbol batch against 50 single calls, chart rendering.

Run: ``.venv/bin/python bench/bench_market.py [--rounds 5] [--quick]``

Everything goes through the real yfinance to the Yahoo fake on 127.0.0.1 (its own thread
and event loop), with the clock frozen at Wednesday 2026-11-25 20:30 New York (after hours are over,
so a full day of 1-minute bars exists).

1. Cached quote: ``await source.quotes(["AAPL"])`` with the price in the cache. Target
   <= 1 ms. Baseline in the same run: the same call with an empty cache (a real fetch).
2. Batch: 50 symbols in one ``quotes()`` call (one v7 request) against 50 ``quotes([s])``
   calls one after another (50 requests), each from an empty cache; median of ``--rounds``.
   Prints the ratio. Also 50 symbols through the chart fallback (v7 broken), for scale.
   Note: on loopback, yfinance fetches the fc.yahoo.com cookie again before every request
   (a 127.0.0.1 cookie cannot be persisted under Yahoo's domain), so both sides pay one
   extra round-trip per request; against Yahoo itself the cookie is reused.
3. Chart: ``render_png`` of a full extended-hours day (~960 bars). Target <= 300 ms.
   Baseline in the same run: the bare minimum matplotlib can do with the same data (one
   line on default axes, saved as PNG at the same size).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("MPLCONFIGDIR", tempfile.mkdtemp(prefix="marketbot-mpl-"))

from bench.summary import report
from bot.config import MarketConfig
from bot.domain.timeutil import ManualClock
from bot.market.charts import render_png
from bot.market.quotes import YahooQuoteSource
from bot.market.sessions import ExchangeCalendar
from bot.market.yahoo import Bars
from tests.fakes.yahoo import YahooFakeThread

AT = datetime(2026, 11, 25, 20, 30, tzinfo=ZoneInfo("America/New_York"))
SYMBOLS = [f"B{i:02d}X" for i in range(50)]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f} ms" if seconds < 0.01 else f"{seconds * 1000:.1f} ms"


def bare_png(bars: Bars) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.0, 3.6), dpi=200)
    FigureCanvasAgg(fig)
    fig.add_subplot().plot(list(bars.times), list(bars.closes))
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


async def bench(url: str, clock: ManualClock, calendar: ExchangeCalendar, rounds: int, calls: int) -> None:
    cache = Path(tempfile.mkdtemp(prefix="marketbot-bench-yf-"))
    config = MarketConfig(quote_timeout=10.0)
    async with YahooQuoteSource(config, calendar, yahoo_url=url, clock=clock, cache_dir=cache) as src:
        await src.quotes(["AAPL", *SYMBOLS])  # cookie, crumb and time zones in place: measure steady state

        # 1. cached quote
        cold = []
        for _ in range(rounds):
            src.clear_cache()
            t = time.perf_counter()
            q = await src.quotes(["AAPL"])
            cold.append(time.perf_counter() - t)
            assert q["AAPL"].available
        timings = []
        for _ in range(calls):
            t = time.perf_counter()
            await src.quotes(["AAPL"])
            timings.append(time.perf_counter() - t)
        timings.sort()
        mean, p99 = statistics.fmean(timings), timings[int(len(timings) * 0.99)]
        base = statistics.median(cold)
        print("1. cached quote")
        print(
            f"   cached:   mean {ms(mean)}, p99 {ms(p99)} over {calls} calls   (target <= 1 ms: {'OK' if p99 <= 0.001 else 'MISSED'})"
        )
        print(
            f"   baseline: uncached fetch {ms(base)} (median of {rounds})   -> cached is {base / mean:,.0f}x faster"
        )
        report("cached quote p99", ms(p99), "<= 1 ms", p99 <= 0.001)

        # 2. one batch vs single calls
        batch, single = [], []
        for _ in range(rounds):
            src.clear_cache()
            t = time.perf_counter()
            got = await src.quotes(SYMBOLS)
            batch.append(time.perf_counter() - t)
            assert all(q.available for q in got.values())
            src.clear_cache()
            t = time.perf_counter()
            for sym in SYMBOLS:
                assert (await src.quotes([sym]))[sym].available
            single.append(time.perf_counter() - t)
        b, s = statistics.median(batch), statistics.median(single)
        print("2. 50 symbols")
        print(f"   one batch (1 request):        {ms(b)}  (median of {rounds})")
        print(f"   baseline: 50 single calls:    {ms(s)}")
        print(f"   ratio: the batch is {s / b:.1f}x faster")


async def fallback_and_chart(
    url: str, clock: ManualClock, calendar: ExchangeCalendar, runner: YahooFakeThread
) -> None:
    """For scale: the 50 symbols when v7 is broken and each goes to the chart; then chart rendering."""
    cache = Path(tempfile.mkdtemp(prefix="marketbot-bench-yf-"))
    config = MarketConfig(quote_timeout=10.0)
    async with YahooQuoteSource(config, calendar, yahoo_url=url, clock=clock, cache_dir=cache) as src:
        await src.quotes(SYMBOLS)
        src.clear_cache()
        runner.call(lambda: runner.fake.fail("quote", "500"))
        t = time.perf_counter()
        got = await src.quotes(SYMBOLS)
        took = time.perf_counter() - t
        runner.call(runner.fake.clear_failures)
        ok = sum(q.available for q in got.values())
        print(f"   (v7 broken: 50 symbols via 1-minute charts, 8 worker threads: {ms(took)}, {ok}/50 priced)")

    async with YahooQuoteSource(config, calendar, yahoo_url=url, clock=clock, cache_dir=cache) as src:
        bars = await src.bars("AAPL")
    print("3. chart")
    renders, bare = [], []
    render_png(bars, calendar=calendar, now=clock.now())  # first use loads fonts
    bare_png(bars)
    for _ in range(10):
        t = time.perf_counter()
        png = render_png(bars, calendar=calendar, now=clock.now())
        renders.append(time.perf_counter() - t)
        t = time.perf_counter()
        bare_png(bars)
        bare.append(time.perf_counter() - t)
    r, base = statistics.median(renders), statistics.median(bare)
    print(
        f"   render_png, {len(bars.closes)} bars, {len(png):,} bytes: {ms(r)} (median of 10; target <= 300 ms: {'OK' if r <= 0.3 else 'MISSED'})"
    )
    print(f"   baseline: bare matplotlib line plot, same data and size: {ms(base)}  -> ratio {r / base:.2f}")
    report("chart render_png", ms(r), "<= 300 ms", r <= 0.3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and cached calls")
    args = parser.parse_args()
    rounds = 2 if args.quick else args.rounds
    calls = 2_000 if args.quick else 20_000
    clock = ManualClock(AT)
    calendar = ExchangeCalendar()
    runner = YahooFakeThread(clock=clock)
    with runner as fake:
        runner.call(lambda: fake.add_generated(SYMBOLS))
        asyncio.run(bench(fake.url, clock, calendar, rounds, calls))
        asyncio.run(fallback_and_chart(fake.url, clock, calendar, runner))


if __name__ == "__main__":
    main()

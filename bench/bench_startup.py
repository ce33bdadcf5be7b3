"""Start-up: ``marketbot run`` ready with 1,000 feeds and 10,000 watchlists.

Run: ``.venv/bin/python bench/bench_startup.py [--feeds 1000] [--watchlists 10000] [--quick]``

Starts the real ``marketbot run`` (console platform, SQLite file, web port 0) as a subprocess
against a loopback feed host serving every feed, and measures the wall time from the spawn to
"ready": the bot logged that it is running (commands are answered from then on) and its first
poll reached the feed host. The baseline, in the same run, is the same start-up with one feed
and one watchlist (the cost of the interpreter, imports and the database), so the figure's
ratio holds on any machine. The bot's CPU seconds at that moment are reported too: on a shared
machine the wall time also counts the time spent waiting for a core. ``--quick``: 200 feeds, 2,000 watchlists.

The bot's modules are byte-compiled first (``compileall``, into their ``__pycache__``), as an
installed marketbot is (pip compiles what it installs, libraries included): with
``PYTHONDONTWRITEBYTECODE`` set, as in our CI and dev shells, every start would otherwise compile
the bot's sources again (about half a second). Both runs start from an empty database, so both
apply the migrations.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_rules import Scenario, ticker_pool
from bench.summary import report
from bot.market.symbols import load_directory
from tests.fakes.feed_host import FeedHost, entry, rss

ROOT = Path(__file__).resolve().parents[1]


def write_config(path: Path, urls: list[str], n_watchlists: int) -> None:
    scenario = Scenario("niche", ticker_pool(load_directory()), random.Random(5))
    lines = ["timezone: America/New_York", "feeds:"]
    for i, url in enumerate(urls):
        lines += [f"  - name: feed {i}", f"    url: {url}", "    interval: 600"]
    lines.append("watchlists:")
    for w in scenario.watchlists(n_watchlists):
        lines += [
            f"  - name: {w.name}",
            f"    tickers: [{', '.join(w.tickers)}]",
            f"    keywords: [{', '.join(json.dumps(k) for k in w.keywords)}]",
        ]
    lines.append("subscriptions:")
    for i in range(0, n_watchlists, max(1, n_watchlists // 100)):
        lines += [f"  - watchlist: w{i}", "    channel: console"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a running process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_env() -> dict[str, str]:
    """The bot's environment: none of ours or the chat platforms'."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "DISCORD_", "MARKETBOT_"))
        and k not in ("PYTHONSTARTUP", "PYTHONPYCACHEPREFIX")
    }
    env["PYTHONPATH"] = str(ROOT)
    return env


def byte_compile() -> None:
    """Compile the bot's modules, as installing marketbot does (the libraries are compiled)."""
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(ROOT / "bot")],
        env=child_env(),
        check=True,
        stdout=subprocess.DEVNULL,
    )


async def start_up(
    host: FeedHost, n_feeds: int, n_watchlists: int, workdir: Path
) -> tuple[float, float, float]:
    """Seconds from spawn to the "running" log line and to the first feed request, and the
    bot's CPU seconds by then (on a busy machine the wall time also counts waiting for a core)."""
    urls = [host.url(f"/feed/{i}") for i in range(n_feeds)]
    config = workdir / "bot.yaml"
    write_config(config, urls, n_watchlists)
    env = child_env()
    env.update(
        MARKETBOT_DATABASE_URL=f"sqlite+aiosqlite:///{workdir / 'marketbot.db'}",
        MARKETBOT_CONFIG=str(config),
        MARKETBOT_WEB_PORT="0",
        MARKETBOT_LOG_FORMAT="json",
        MPLCONFIGDIR=str(workdir / "mpl"),
        XDG_CACHE_HOME=str(workdir / "cache"),
    )
    host.requests.clear()
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        cwd=workdir,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    running = polled = cpu = 0.0
    try:
        async with asyncio.timeout(300):
            while not running:
                raw = await proc.stderr.readline()
                if not raw:
                    raise SystemExit(f"marketbot run exited early (status {await proc.wait()})")
                if " running: " in str(json.loads(raw).get("message", "")):
                    running = time.perf_counter() - started
            while not host.requests:
                await asyncio.sleep(0.01)
            polled = (host.requests[0].at.timestamp() - time.time()) + time.perf_counter() - started
            cpu = cpu_seconds(proc.pid)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            drain = asyncio.create_task(proc.stderr.read())
            try:
                await asyncio.wait_for(proc.wait(), 60)
            except TimeoutError:
                proc.kill()
                await proc.wait()
            await drain
    return running, max(polled, 0.0), cpu


async def main_async(args: argparse.Namespace) -> None:
    body = rss([entry(f"Story {n}", f"https://news.example/{n}", guid=f"g{n}") for n in range(20)])
    async with FeedHost() as host:
        for i in range(args.feeds):
            host.serve(f"/feed/{i}", body, etag=f'"{i}"')
        byte_compile()
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            base_running, base_polled, base_cpu = await start_up(host, 1, 1, Path(a))
            running, polled, cpu = await start_up(host, args.feeds, args.watchlists, Path(b))
    ready, base_ready = max(running, polled), max(base_running, base_polled)
    print(
        f"baseline, 1 feed and 1 watchlist: running after {base_running:.2f} s, first poll at "
        f"{base_polled:.2f} s, {base_cpu:.2f} s CPU"
    )
    print(
        f"{args.feeds:,} feeds and {args.watchlists:,} watchlists: running after {running:.2f} s, first poll "
        f"at {polled:.2f} s -> ready in {ready:.2f} s ({ready / base_ready:.2f}x the baseline, "
        f"+{ready - base_ready:.2f} s); {cpu:.2f} s CPU ({cpu / base_cpu:.2f}x the baseline's {base_cpu:.2f} s)"
    )
    report(
        f"start-up to ready, {args.feeds:,} feeds, {args.watchlists:,} watchlists (wall)",
        f"{ready:.2f} s ({ready / base_ready:.1f}x bare start-up {base_ready:.2f} s)",
        "<= 3 s",
        ready <= 3,
    )
    report(
        f"start-up to ready, {args.feeds:,} feeds, {args.watchlists:,} watchlists (CPU)",
        f"{cpu:.2f} s ({cpu / base_cpu:.1f}x bare start-up {base_cpu:.2f} s)",
        "<= 3 s",
        cpu <= 3,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("--feeds", type=int, default=1_000)
    ap.add_argument("--watchlists", type=int, default=10_000)
    ap.add_argument("--quick", action="store_true", help="200 feeds, 2,000 watchlists")
    args = ap.parse_args()
    if args.quick:
        args.feeds, args.watchlists = min(args.feeds, 200), min(args.watchlists, 2_000)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()

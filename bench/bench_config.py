"""Config load and the ``marketbot match`` CLI at scale: 10,000 watchlists, 20,000 stories.

Run: ``.venv/bin/python bench/bench_config.py [--watchlists 10000] [--stories 20000] [--quick]``

Writes a config with N watchlists (drawn like bench_rules' niche scenario, 1 in 50 with a
ticker the symbol directory does not know, so warnings are printed) and M stories as JSON
lines, then:

- times the config load in this process: ``load_config`` (YAML parse + validation) and the
  unknown-ticker warnings, against pure-Python ``yaml.safe_load`` of the same file measured in
  the same run (the way the config used to be read, twice);
- runs ``python -m bot match`` as a subprocess on 1 story and on all M stories; the
  difference is the matching rate, the 1-story run is the start-up (CPU time of the child, so
  other load on the machine does not count) (config load, warnings,
  compile).

``--quick``: 2,000 stories.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_rules import Scenario, ticker_pool
from bench.summary import report
from bot.config import load_config, watchlist_warnings
from bot.market.symbols import load_directory

ROOT = Path(__file__).resolve().parents[1]


def write_config(path: Path, n: int, rng: random.Random) -> None:
    directory = load_directory()
    scenario = Scenario("niche", ticker_pool(directory), rng)
    lines = ["timezone: America/New_York", "watchlists:"]
    for i, w in enumerate(scenario.watchlists(n)):
        tickers = list(w.tickers) + ([f"ZQ{i % 1000:03d}X"] if i % 50 == 0 else [])
        lines.append(f"  - name: {w.name}")
        lines.append(f"    tickers: [{', '.join(tickers)}]")
        lines.append(f"    keywords: [{', '.join(json.dumps(k) for k in w.keywords)}]")
        if w.match == "all":
            lines.append("    match: all")
        if w.exclude:
            lines.append(f"    exclude: [{', '.join(w.exclude)}]")
    lines.append("subscriptions:")
    for i in range(0, n, 100):
        lines.append(f"  - watchlist: w{i}")
        lines.append("    channel: console")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_stories(path: Path, n: int, rng: random.Random) -> None:
    directory = load_directory()
    scenario = Scenario("niche", ticker_pool(directory), rng)
    with path.open("w", encoding="utf-8") as out:
        for i, (title, summary) in enumerate(scenario.stories(n)):
            out.write(json.dumps({"id": str(i), "title": title, "summary": summary}) + "\n")


def run_cli(config: Path, stories: Path, env: dict[str, str]) -> tuple[float, int, int]:
    """CPU time (user + system, so other load on the machine does not count), output lines and
    stderr lines of ``python -m bot match``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "match", "--config", str(config), "--input", str(stories)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    took = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        print(proc.stderr[-2000:])
        raise SystemExit(f"marketbot match exited {proc.returncode}")
    return took, proc.stdout.count("\n"), proc.stderr.count("\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("--watchlists", type=int, default=10_000)
    ap.add_argument("--stories", type=int, default=20_000)
    ap.add_argument("--quick", action="store_true", help="2,000 stories")
    args = ap.parse_args()
    if args.quick:
        args.stories = min(args.stories, 2_000)
    rng = random.Random(11)
    with tempfile.TemporaryDirectory() as tmp:
        config, stories, one = Path(tmp, "bot.yaml"), Path(tmp, "stories.jsonl"), Path(tmp, "one.jsonl")
        write_config(config, args.watchlists, rng)
        write_stories(stories, args.stories, rng)
        one.write_text(stories.read_text(encoding="utf-8").split("\n", 1)[0] + "\n", encoding="utf-8")
        size = config.stat().st_size
        print(
            f"config: {args.watchlists:,} watchlists, {size / 1e6:.1f} MB; stories: {args.stories:,} "
            f"(Python {sys.version.split()[0]}, libyaml {'yes' if yaml.__with_libyaml__ else 'no'})"
        )

        text = config.read_text(encoding="utf-8")
        t0 = time.process_time()
        yaml.load(text, Loader=yaml.SafeLoader)
        t_pure = time.process_time() - t0
        t0 = time.process_time()
        cfg = load_config(config)
        t_load = time.process_time() - t0
        directory = load_directory(cfg.aliases)
        t0 = time.process_time()
        warnings = watchlist_warnings(cfg, directory)
        t_warn = time.process_time() - t0
        print(
            f"  load_config (parse + validate): {t_load:.2f} s CPU; warnings for {len(warnings)} unknown "
            f"tickers: {t_warn:.2f} s; baseline pure-Python yaml.safe_load alone: {t_pure:.2f} s "
            f"(load + warnings = {(t_load + t_warn) / t_pure:.2f}x the baseline)"
        )

        env = {**os.environ, "PYTHONPATH": str(ROOT), "MARKETBOT_DATABASE_URL": f"sqlite:///{tmp}/bench.db"}
        t_one, lines_one, _ = run_cli(config, one, env)
        t_all, lines_all, err_lines = run_cli(config, stories, env)
        assert lines_one == 1 and lines_all == args.stories, (lines_one, lines_all)
        rate = (args.stories - 1) / max(t_all - t_one, 1e-9)
        print(
            f"  marketbot match: 1 story {t_one:.2f} s CPU (start-up: config, warnings, compile), "
            f"{args.stories:,} stories {t_all:.2f} s CPU -> {rate:,.0f} stories/s after start-up; "
            f"{err_lines} warning lines"
        )
        report(
            f"config load, {args.watchlists:,} watchlists (parse, validate, warnings)",
            f"{t_load + t_warn:.2f} s",
            "<= 3 s",
            t_load + t_warn <= 3,
        )
        report(
            f"marketbot match, {args.stories:,} stories x {args.watchlists:,} watchlists",
            f"{rate:,.0f} stories/s",
            ">= 5,000 stories/s",
            rate >= 5_000,
        )


if __name__ == "__main__":
    main()

"""Run every benchmark in bench/ and end with one table: each figure, its target, met or not.

Run: ``.venv/bin/python bench/summary.py [--quick] [bench_name ...]`` (``make bench`` runs it).

Each benchmark prints its own report (its ratios against baselines measured in the same run) and,
for every figure that has a target, one line of the form::

    SUMMARY | <figure> | <measured value> | <target> | <met|missed>

This script streams each benchmark's output as it runs, collects those lines and prints the table
at the end. A benchmark that crashes, or that prints no SUMMARY line, is listed in the table as
such, and the exit status is then 1 (a missed target is not an error: the table says so).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
PREFIX = "SUMMARY |"


@dataclass(frozen=True)
class Figure:
    bench: str
    name: str
    value: str
    target: str
    verdict: str


def report(name: str, value: str, target: str, met: bool) -> None:
    """Print one figure for the summary table (benchmarks import it: ``from bench.summary import report``)."""
    print(f"{PREFIX} {name} | {value} | {target} | {'met' if met else 'missed'}", flush=True)


def parse_line(bench: str, line: str) -> Figure | None:
    """The figure a ``SUMMARY | …`` line reports, or None for any other line."""
    if not line.startswith(PREFIX):
        return None
    parts = [p.strip() for p in line[len(PREFIX) :].split("|")]
    if len(parts) != 4:
        return Figure(bench, line.strip(), "?", "?", "malformed SUMMARY line")
    name, value, target, verdict = parts
    return Figure(bench, name, value, target, verdict.lower())


def run(script: Path, extra: list[str]) -> tuple[list[Figure], int, float]:
    """Run one benchmark, echoing its output; its figures, exit status and wall time."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(script), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    figures: list[Figure] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        figure = parse_line(script.stem, line)
        if figure is not None:
            figures.append(figure)
    return figures, proc.wait(), time.perf_counter() - started


def table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="pass --quick to every benchmark")
    parser.add_argument("only", nargs="*", help="benchmark names to run (default: all bench_*.py)")
    args = parser.parse_args()
    scripts = sorted(HERE.glob("bench_*.py"))
    if args.only:
        wanted = {n.removesuffix(".py") for n in args.only}
        unknown = wanted - {s.stem for s in scripts}
        if unknown:
            print(
                f"no such benchmark: {', '.join(sorted(unknown))} (have: {', '.join(s.stem for s in scripts)})"
            )
            return 2
        scripts = [s for s in scripts if s.stem in wanted]
    extra = ["--quick"] if args.quick else []
    figures: list[Figure] = []
    failed = False
    for script in scripts:
        print(f"== {script.relative_to(HERE.parent)}", flush=True)
        found, status, took = run(script, extra)
        print(f"   ({took:.0f} s)", flush=True)
        if status != 0:
            failed = True
            figures.append(Figure(script.stem, "(benchmark failed)", f"exit {status}", "-", "error"))
        elif not found:
            failed = True
            figures.append(Figure(script.stem, "(no SUMMARY line printed)", "-", "-", "error"))
        figures.extend(found)
    rows = [["benchmark", "figure", "measured", "target", "met"]]
    rows += [[f.bench, f.name, f.value, f.target, f.verdict] for f in figures]
    met = sum(f.verdict == "met" for f in figures)
    print()
    print("== summary" + (" (--quick: smaller runs, not the figures the targets name)" if args.quick else ""))
    print(table(rows))
    print(f"{met} of {len(figures)} figures met their target")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

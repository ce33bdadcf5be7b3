"""`make bench` ends with one table built from the benchmarks' SUMMARY lines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.summary import Figure, parse_line, report, table


def test_a_summary_line_becomes_a_figure(capsys: object) -> None:
    report("decide matches, 10,000 watchlists", "21,300 stories/s", ">= 20k stories/s", True)
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert parse_line("bench_rules", out) == Figure(
        "bench_rules", "decide matches, 10,000 watchlists", "21,300 stories/s", ">= 20k stories/s", "met"
    )
    assert parse_line("bench_rules", "   ratio: 2.0x") is None
    assert parse_line("b", "SUMMARY | only two | parts").verdict == "malformed SUMMARY line"  # type: ignore[union-attr]


def test_the_table_lines_up_its_columns() -> None:
    text = table([["a", "bb"], ["ccc", "d"]])
    assert text.splitlines() == ["a    bb", "---  --", "ccc  d"]


def test_an_unknown_benchmark_name_is_refused_in_one_line() -> None:
    script = Path(__file__).resolve().parents[2] / "bench" / "summary.py"
    proc = subprocess.run(
        [sys.executable, str(script), "bench_nope"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2
    assert proc.stdout.startswith("no such benchmark: bench_nope (have: ")

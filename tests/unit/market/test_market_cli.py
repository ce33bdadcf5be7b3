"""``marketbot quote`` and ``marketbot session`` as a user runs them: a real process, the Yahoo fake."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.yahoo import YahooFake, YahooFakeThread
from tests.support.cli import cli_env, marketbot_sync

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def yahoo() -> Iterator[tuple[YahooFake, YahooFakeThread]]:
    runner = YahooFakeThread()  # the fake's clock is the real one, like the CLI's
    with runner as fake:
        yield fake, runner


def run(
    args: list[str], tmp_path: Path, *, yahoo_url: str | None, timeout: float = 30.0
) -> subprocess.CompletedProcess[str]:
    """Run ``marketbot ARGS``; ``timeout`` is the quote deadline (generous unless the test is about it)."""
    config = tmp_path / "bot.yaml"
    config.write_text(f"market:\n  quote_timeout: {timeout}\n", encoding="utf-8")
    settings = {
        "MARKETBOT_CONFIG": str(config),
        "MPLCONFIGDIR": str(tmp_path / "mpl"),
        "HOME": str(tmp_path / "home"),
        "PYTHONPATH": str(ROOT),
    }
    if yahoo_url:
        settings["MARKETBOT_YAHOO_URL"] = yahoo_url
    return marketbot_sync(args, env=cli_env(settings), cwd=tmp_path)


def test_quote_prints_one_line_per_symbol(yahoo: tuple[YahooFake, YahooFakeThread], tmp_path: Path) -> None:
    fake, _ = yahoo
    done = run(["quote", "amzn", "SHOP.TO"], tmp_path, yahoo_url=fake.url)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["AMZN", "SHOP.TO"]
    assert lines[0].split()[1].startswith("$") and lines[1].split()[1].startswith("C$")
    labels = ("pre-market", "regular", "after hours", "closed")
    assert all(any(f"  {label}  " in line for label in labels) for line in lines)
    assert done.stderr == ""
    assert not (tmp_path / "home").exists()  # yfinance's caches stay out of $HOME


def test_quote_json_and_unknown_symbol(yahoo: tuple[YahooFake, YahooFakeThread], tmp_path: Path) -> None:
    fake, _ = yahoo
    done = run(["quote", "AAPL", "NOSUCHCO", "--json"], tmp_path, yahoo_url=fake.url)
    assert done.returncode == 1
    rows = {row["symbol"]: row for row in json.loads(done.stdout)}
    assert rows["AAPL"]["available"] and rows["AAPL"]["currency"] == "USD"
    assert rows["NOSUCHCO"]["price"] is None
    assert done.stderr.startswith("marketbot: error: no price for NOSUCHCO: no such symbol on Yahoo Finance")
    assert len(done.stderr.splitlines()) == 1


def test_quote_chart_and_status(yahoo: tuple[YahooFake, YahooFakeThread], tmp_path: Path) -> None:
    fake, _ = yahoo
    png = tmp_path / "nvda.png"
    done = run(["quote", "NVDA", "--chart", str(png), "--status"], tmp_path, yahoo_url=fake.url)
    assert done.returncode == 0, done.stderr
    assert png.read_bytes().startswith(b"\x89PNG")
    assert f"quote source: Yahoo Finance via yfinance, {fake.url} (deadline 30s)" in done.stdout
    assert "circuit breaker: closed (0 failures in a row; opens after 5)" in done.stdout
    assert f"chart written to {png}" in done.stdout


def test_blackholed_yahoo_fails_within_the_deadline(
    yahoo: tuple[YahooFake, YahooFakeThread], tmp_path: Path
) -> None:
    fake, runner = yahoo
    runner.call(lambda: fake.fail("all", "hang"))
    try:
        done = run(["quote", "AMZN", "AAPL"], tmp_path, yahoo_url=fake.url, timeout=1.0)
    finally:
        runner.call(fake.clear_failures)
    assert done.returncode == 1
    assert done.stdout == ""
    assert (
        done.stderr == "marketbot: error: no price for AMZN, AAPL: Yahoo Finance did not answer within 1s\n"
    )


def test_offline_fails_with_one_line(tmp_path: Path) -> None:
    done = run(["quote", "AMZN"], tmp_path, yahoo_url="http://127.0.0.1:9")  # nothing listens there
    assert done.returncode == 1
    assert done.stderr.startswith("marketbot: error: no price for AMZN: cannot connect to Yahoo Finance")
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr


def test_usage_errors(tmp_path: Path) -> None:
    done = run(["quote"], tmp_path, yahoo_url=None)
    assert done.returncode == 2 and "give at least one symbol" in done.stderr
    done = run(["quote", "A", "B", "--chart", "x.png"], tmp_path, yahoo_url=None)
    assert done.returncode == 2 and "--chart draws one symbol" in done.stderr
    done = run(["quote", "AAPL"], tmp_path, yahoo_url="ftp://nope")
    assert done.returncode == 2 and "MARKETBOT_YAHOO_URL='ftp://nope' is not an http(s) URL" in done.stderr


@pytest.mark.parametrize(
    ("at", "first_line"),
    [
        ("2026-11-26T12:00", "XNYS at Thu 26 Nov 2026 12:00 EST: closed (Thanksgiving)"),
        ("2026-11-27T08:30", "XNYS at Fri 27 Nov 2026 08:30 EST: pre-market"),
        ("2026-11-27T13:30", "XNYS at Fri 27 Nov 2026 13:30 EST: after hours"),
        ("2026-11-28T10:00", "XNYS at Sat 28 Nov 2026 10:00 EST: closed (weekend)"),
        ("2026-03-09T12:00Z", "XNYS at Mon 09 Mar 2026 08:00 EDT: pre-market"),
    ],
)
def test_session_needs_no_network(tmp_path: Path, at: str, first_line: str) -> None:
    done = run(["session", "--at", at], tmp_path, yahoo_url="http://127.0.0.1:9")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == first_line


def test_session_day_line_and_symbols(tmp_path: Path) -> None:
    done = run(["session", "--at", "2026-11-26T20:00"], tmp_path, yahoo_url=None)
    assert done.stdout.splitlines()[1:] == [
        "next: pre-market at Fri 27 Nov 04:00 EST",
        "Fri 27 Nov: pre-market 04:00, open 09:30, early close 13:00, after hours until 17:00 EST",
    ]
    done = run(["session", "--at", "2026-11-27T12:00+09:00", "--symbol", "7203.T"], tmp_path, yahoo_url=None)
    assert done.stdout.splitlines()[0] == "XTKS at Fri 27 Nov 2026 12:00 JST: closed (lunch break)"
    done = run(["session", "--symbol", "BTC-USD"], tmp_path, yahoo_url=None)
    assert "no trading calendar" in done.stdout
    done = run(["session", "--at", "yesterday"], tmp_path, yahoo_url=None)
    assert done.returncode == 2 and "is not an ISO time" in done.stderr
    done = run(["session", "--at", "2026-11-27T08:30", "--json"], tmp_path, yahoo_url=None)
    data = json.loads(done.stdout)
    assert (data["session"], data["early_close"], data["close"]) == (
        "pre-market",
        True,
        "2026-11-27T18:00:00+00:00",
    )

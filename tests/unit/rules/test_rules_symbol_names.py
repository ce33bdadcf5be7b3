"""Company names from SEC's list and the quote source, kept in the store and refreshed on time."""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app import symbol_names
from bot.config import BotConfig, MarketConfig, parse_config
from bot.domain.errors import BotError
from bot.domain.rules import compile_matcher, detect_tickers
from bot.domain.timeutil import ManualClock
from bot.market.quotes import YahooQuoteSource
from bot.market.sessions import ExchangeCalendar
from bot.market.symbols import fetch_directory_file, parse_company_tickers
from bot.store import SqlStore
from tests.fakes.sec_server import DATA, SecFake
from tests.fakes.yahoo import DEFAULT_INSTRUMENTS, Instrument, YahooFake, YahooFakeThread
from tests.support.cli import cli_env, marketbot_sync

ROOT = Path(__file__).resolve().parents[3]
T0 = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)


@pytest.fixture
async def sec() -> AsyncIterator[SecFake]:
    async with SecFake() as fake:
        yield fake


def config(url: str | None, contact: str | None = "Acme Research ops@acme.example") -> BotConfig:
    lines = [f"symbols:\n  directory_url: {url if url else 'false'}"]
    if contact:
        lines.append(f"ingest:\n  contact: {contact}")
    return parse_config("\n".join(lines) + "\n")


async def test_without_a_contact_sec_is_not_asked(sec: SecFake, sqlite_store: SqlStore) -> None:
    names = symbol_names(sqlite_store, config(sec.url, contact=None), clock=ManualClock(T0))
    report = await names.refresh([])
    assert "not fetched" in report.lines[0] and "ingest.contact" in report.lines[0]
    assert sec.requests == [] and not report.changed
    off = symbol_names(sqlite_store, config(None), clock=ManualClock(T0))
    assert "off" in (await off.refresh([])).lines[0]


async def test_sec_list_is_fetched_with_the_contact_at_most_daily(
    sec: SecFake, sqlite_store: SqlStore
) -> None:
    clock = ManualClock(T0)
    names = symbol_names(sqlite_store, config(sec.url), clock=clock)
    before = await names.directory()
    assert "RKLB" not in before  # a small cap the bundled index does not carry
    report = await names.refresh([])
    assert report.changed and "fetched" in report.lines[0]
    assert "ops@acme.example" in sec.requests[0].user_agent and "gzip" in sec.requests[0].accept_encoding
    directory = await names.directory()
    assert detect_tickers("Rocket Lab shares soar after launch contract", directory) == ("RKLB",)
    assert detect_tickers("Costco beats estimates", directory) == ("COST",)

    clock.advance(timedelta(hours=23))
    report = await names.refresh([])
    assert "fresh" in report.lines[0] and len(sec.requests) == 1  # not due yet
    clock.advance(timedelta(hours=2))
    report = await names.refresh([])
    assert "unchanged" in report.lines[0] and sec.requests[-1].status == 304 and not report.changed

    rows = json.loads(DATA.read_text(encoding="utf-8"))
    rows[str(len(rows))] = {"cik_str": 1999999, "ticker": "NEWC", "title": "Newco Robotics Holdings, Inc."}
    sec.set_rows(rows)
    report = await names.refresh([], force=True)
    assert report.changed and "1 names added" in report.lines[0]
    assert detect_tickers("Newco Robotics wins a Pentagon contract", await names.directory()) == ("NEWC",)


async def test_a_failing_source_keeps_what_is_stored(sec: SecFake, sqlite_store: SqlStore) -> None:
    clock = ManualClock(T0)
    names = symbol_names(sqlite_store, config(sec.url), clock=clock)
    await names.refresh([])
    stored = len(await sqlite_store.symbol_names(source="sec"))
    rows = json.loads(DATA.read_text(encoding="utf-8"))
    for n, mode in enumerate(("500", "garbage", "html")):
        sec.fail(mode, times=1)
        rows[str(len(rows))] = {"cik_str": 2000000 + n, "ticker": f"NEW{n}", "title": f"Newco {n} Inc."}
        sec.set_rows(rows)  # a new ETag: no 304
        report = await names.refresh([], force=True)
        assert "kept the names already stored" in report.lines[0], mode
        assert not report.changed
        assert len(await sqlite_store.symbol_names(source="sec")) == stored
    state = (await sqlite_store.symbol_refreshes("sec"))["sec"]
    assert state.status.startswith("error:")
    clock.advance(timedelta(minutes=61))  # a failed fetch is retried after an hour, not a day
    report = await names.refresh([])
    assert "fetched" in report.lines[0] and report.changed


async def test_sec_refuses_an_anonymous_user_agent(sec: SecFake) -> None:
    with pytest.raises(BotError, match=r"refused the request \(403\).*ingest\.contact"):
        await fetch_directory_file(sec.url, contact="marketbot", etag=None, last_modified=None)


def test_parse_company_tickers_skips_bad_rows_and_rejects_other_shapes() -> None:
    rows = {
        "0": {"cik_str": 320193, "ticker": "AAPL", "title": "Apple Inc."},
        "1": {"cik_str": 1, "ticker": "NOT A SYMBOL", "title": "x"},
        "2": ["garbage"],
    }
    assert [(n.symbol, n.ident) for n in parse_company_tickers(rows)] == [("AAPL", "320193")]
    with pytest.raises(ValueError, match=r"company_tickers\.json"):
        parse_company_tickers([1, 2, 3])


async def test_quote_names_of_watched_tickers_weekly(
    sqlite_store: SqlStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = ManualClock(T0)
    extra = Instrument("ZZZQ", "Zeta Quantum Sensing Corporation", short_name="Zeta Quantum", base=12.0)
    async with YahooFake(clock=clock, instruments=(*DEFAULT_INSTRUMENTS, extra)) as fake:
        calendar = ExchangeCalendar("XNYS")
        async with YahooQuoteSource(
            MarketConfig(), calendar, yahoo_url=fake.url, clock=clock, cache_dir=tmp_path / "cache"
        ) as quotes:
            names = symbol_names(sqlite_store, config(None), clock=clock, quotes=quotes)
            report = await names.refresh(["ZZZQ", "NVDA", "NOPE"])
            assert report.changed
            assert "2 of 3 tickers named; unknown to the quote source: NOPE" in report.lines[1]
            stored = await sqlite_store.symbol_names(source="quote", symbol="ZZZQ")
            assert [n.name for n in stored] == ["Zeta Quantum", "Zeta Quantum Sensing Corporation"]
            directory = await names.directory()
            matcher = compile_matcher([], directory)
            assert matcher.tickers("Zeta Quantum lands a NASA deal") == ("ZZZQ",)
            quote_calls = fake.count("/v7/finance/quote")
            clock.advance(timedelta(days=6))
            assert "fresh for all 3" in (await names.refresh(["ZZZQ", "NVDA", "NOPE"])).lines[1]
            assert fake.count("/v7/finance/quote") == quote_calls
            clock.advance(timedelta(days=1, minutes=1))
            report = await names.refresh(["ZZZQ", "NVDA", "NOPE"])
            assert "2 of 3" in report.lines[1] and not report.changed


# ---------------------------------------------------------------- the command line


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[str, str]]:
    import asyncio
    import threading

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    sec = SecFake()
    url = asyncio.run_coroutine_threadsafe(sec.start(), loop).result(10)
    extra = Instrument("RKLB", "Rocket Lab USA, Inc.", short_name="Rocket Lab Corporation", base=25.0)
    with YahooFakeThread(instruments=(*DEFAULT_INSTRUMENTS, extra)) as yahoo:
        yield url, yahoo.url
    asyncio.run_coroutine_threadsafe(sec.close(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def marketbot(
    args: list[str], tmp_path: Path, sec_url: str, yahoo_url: str
) -> subprocess.CompletedProcess[str]:
    cfg = tmp_path / "bot.yaml"
    cfg.write_text(
        f"""ingest:
  contact: Acme Research ops@acme.example
symbols:
  directory_url: {sec_url}
watchlists:
  - name: space
    tickers: [RKLB, ASTS]
""",
        encoding="utf-8",
    )
    settings = {
        "MARKETBOT_CONFIG": str(cfg),
        "MARKETBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}",
        "MARKETBOT_YAHOO_URL": yahoo_url,
        "MPLCONFIGDIR": str(tmp_path / "mpl"),
        "HOME": str(tmp_path / "home"),
        "PYTHONPATH": str(ROOT),
    }
    return marketbot_sync(args, env=cli_env(settings), cwd=tmp_path)


def test_cli_refresh_lists_names_and_explain_uses_them(fakes: tuple[str, str], tmp_path: Path) -> None:
    sec_url, yahoo_url = fakes
    headline = "Rocket Lab wins $515 million contract"
    before = marketbot(["explain", "space", headline], tmp_path, sec_url, yahoo_url)
    assert before.returncode == 1, before.stderr  # the name is not known yet: no match

    refreshed = marketbot(["symbols", "--refresh"], tmp_path, sec_url, yahoo_url)
    assert refreshed.returncode == 0, refreshed.stderr
    assert "SEC company list: fetched" in refreshed.stdout
    assert "quote names: 1 of 2 tickers named; unknown to the quote source: ASTS" in refreshed.stdout

    shown = marketbot(["symbols", "RKLB"], tmp_path, sec_url, yahoo_url)
    assert shown.returncode == 0, shown.stderr
    assert '"Rocket Lab USA, Inc." (sec)' in shown.stdout
    assert '"Rocket Lab Corporation" (quote)' in shown.stdout
    assert '"Rocket Lab" (legal form dropped of "Rocket Lab USA, Inc.", sec)' in shown.stdout

    after = marketbot(["explain", "space", headline], tmp_path, sec_url, yahoo_url)
    assert after.returncode == 0, after.stderr
    assert 'RKLB by "Rocket Lab"' in after.stdout

    summary = marketbot(["symbols"], tmp_path, sec_url, yahoo_url)
    assert "SEC company list: 265 symbols" in summary.stdout, summary.stdout

    unknown = marketbot(["symbols", "QQQZ"], tmp_path, sec_url, yahoo_url)
    assert unknown.returncode == 0 and "not in the symbol directory" in unknown.stdout

"""``marketbot briefing`` as a user runs it: a real subprocess, a config file, a SQLite file and
the Yahoo fake on 127.0.0.1 (``MARKETBOT_YAHOO_URL``) whose clock reads the ``--at`` time."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest

from bot.catalog import Catalog
from bot.config import parse_config
from bot.domain.models import Story
from bot.domain.records import IngestBatch
from bot.domain.timeutil import ManualClock
from bot.market.symbols import load_directory
from bot.store import open_store
from tests.fakes.yahoo import NO_TRADES, YahooFake
from tests.support.cli import Run, cli_env
from tests.support.cli import marketbot as run_cli
from tests.support.factories import story
from tests.unit.delivery.market_world import WATCHLISTS, et

ROOT = Path(__file__).resolve().parents[2]

CONFIG = (
    WATCHLISTS
    + """
subscriptions:
  - watchlist: cloud-china
    channel: console
    briefing: premarket
  - watchlist: retail
    channel: slack:C0AAAAAAAA
briefing: {time: "08:30", max_stories: 5}
market: {quote_timeout: 30}  # generous: prices must not turn into None on a busy machine
"""
)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(et("2026-11-25 08:30"))


@pytest.fixture
async def fake(clock: ManualClock) -> AsyncIterator[YahooFake]:
    async with YahooFake(clock=clock) as server:
        server.set_day("AMZN", date(2026, 11, 24), close=200.0)
        server.set_day("MSFT", date(2026, 11, 24), close=400.0)
        server.set_day("NVDA", date(2026, 11, 24), close=150.0)
        server.set_day("AMZN", date(2026, 11, 25), pre=206.0)
        server.set_day("MSFT", date(2026, 11, 25), pre=396.0)
        server.set_day("NVDA", date(2026, 11, 25), pre=NO_TRADES)
        yield server


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "bot.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'data' / 'marketbot.db'}"


async def seed(db_url: str, *stories: Story) -> None:
    """Stories as ingestion would have stored them (with their detected tickers)."""
    cfg = parse_config(CONFIG)
    (Path(db_url.split(":///", 1)[1]).parent).mkdir(parents=True, exist_ok=True)
    async with open_store(db_url) as store:
        catalog = Catalog(store=store, config_watchlists=cfg.domain_watchlists(), directory=load_directory())
        await catalog.reload()
        tagged = [
            Story(
                **{
                    **{f: getattr(s, f) for f in s.__dataclass_fields__},
                    "tickers": catalog.matcher.tickers(s.title),
                }
            )
            for s in stories
        ]
        await store.save_ingest(IngestBatch(new_stories=tagged))


async def marketbot(*args: str, config: Path, db_url: str, fake: YahooFake | None = None) -> Run:
    settings = {
        "PYTHONPATH": str(ROOT),
        "MARKETBOT_DATABASE_URL": db_url,
        "MARKETBOT_CONFIG": str(config),
        "MARKETBOT_YAHOO_URL": fake.url if fake else "http://127.0.0.1:9",  # port 9: nothing listens
    }
    env = cli_env(settings, drop=("MARKETBOT_", "SLACK_", "DISCORD_"))
    return await run_cli(args, env=env, cwd=config.parent)


async def test_thanksgiving_prints_only_the_reason(config_file: Path, db_url: str) -> None:
    run = await marketbot("briefing", "--at", "2026-11-26T08:30:00-05:00", config=config_file, db_url=db_url)
    assert (run.code, run.out, run.err) == (0, "NYSE is closed on 2026-11-26 (Thanksgiving Day)\n", "")
    assert not Path(db_url.split(":///", 1)[1]).exists()  # decided by the calendar alone


async def test_thanksgiving_as_json(config_file: Path, db_url: str) -> None:
    run = await marketbot(
        "briefing", "--at", "2026-11-26T08:30:00-05:00", "--json", config=config_file, db_url=db_url
    )
    assert run.code == 0, run.err
    assert json.loads(run.out) == {
        "at": "2026-11-26T13:30:00+00:00",
        "day": "2026-11-26",
        "exchange": "XNYS",
        "reason": "NYSE is closed on 2026-11-26 (Thanksgiving Day)",
        "briefings": [],
    }


@pytest.mark.parametrize(
    ("at", "reason"),
    [
        ("2026-11-28T08:30", "NYSE is closed on 2026-11-28 (Saturday)"),
        (
            "2026-11-25T10:00",
            "NYSE opened at 09:30 EST on 2026-11-25: the pre-market briefing goes out before the open",
        ),
    ],
)
async def test_weekend_and_after_the_open(config_file: Path, db_url: str, at: str, reason: str) -> None:
    run = await marketbot("briefing", "--at", at, config=config_file, db_url=db_url)
    assert (run.code, run.out) == (0, reason + "\n")


async def test_normal_day_json(config_file: Path, db_url: str, fake: YahooFake) -> None:
    await seed(
        db_url,
        story("Amazon cloud unit signs $5 billion deal", at=et("2026-11-25 07:10"), also=["Bloomberg"]),
        story("Microsoft expands cloud regions in Asia", at=et("2026-11-24 18:05")),
        story("Microsoft cloud outage hits Azure customers", at=et("2026-11-24 15:30")),  # before the close
        story(
            "Amazon cloud unit wins another deal after the briefing", at=et("2026-11-25 08:45")
        ),  # after --at
    )
    run = await marketbot(
        "briefing",
        "--at",
        "2026-11-25T08:30:00-05:00",
        "--json",
        config=config_file,
        db_url=db_url,
        fake=fake,
    )
    assert run.code == 0, run.err
    data = json.loads(run.out)
    assert (data["day"], data["reason"]) == ("2026-11-25", None)
    [brief] = data["briefings"]
    assert brief["channel"] == "console"
    assert brief["watchlist"] == "cloud-china"
    assert brief["key"] == f"briefing:2026-11-25:{brief['subscription_id']}"
    assert brief["title"] == "Pre-market briefing: cloud-china, Wed 25 Nov"
    assert brief["stories_since"] == "2026-11-24T21:00:00+00:00"
    assert [(t["symbol"], t["price"], t["change_pct"], t["session"]) for t in brief["tickers"]] == [
        ("AMZN", 206.0, 3.0, "pre-market"),
        ("MSFT", 396.0, -1.0, "pre-market"),
        ("NVDA", 150.0, 0.0, "pre-market"),
        ("ZZZZ", None, None, None),
    ]
    assert brief["tickers"][-1]["reason"].startswith("no such symbol on Yahoo Finance")
    assert brief["tickers"][0]["volume"] > 0
    assert [(s["title"], s["source"], s["tickers"]) for s in brief["stories"]] == [
        ("Amazon cloud unit signs $5 billion deal", "Reuters, Bloomberg", ["AMZN"]),
        ("Microsoft expands cloud regions in Asia", "Reuters", ["MSFT"]),
    ]
    assert "NYSE opens at 09:30 EST." in brief["note"]
    # a preview: nothing was queued for the channel
    async with open_store(db_url) as store:
        assert all(s.queued == 0 and s.held == 0 for s in (await store.channel_stats()).values())


async def test_normal_day_text_looks_like_the_console_alert(
    config_file: Path, db_url: str, fake: YahooFake
) -> None:
    run = await marketbot(
        "briefing", "--at", "2026-11-25T08:30", config=config_file, db_url=db_url, fake=fake
    )
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert lines[:3] == [
        "[BRIEFING] cloud-china → console",
        "Pre-market briefing: cloud-china, Wed 25 Nov",
        "  AMZN $206.00 ▲ +3.00% pre-market",
    ]
    assert "  ZZZZ price unavailable" in lines
    assert "No matching stories since the close on Tue 24 Nov 16:00 EST." in lines


async def test_a_watchlist_nobody_subscribes_to(config_file: Path, db_url: str, fake: YahooFake) -> None:
    run = await marketbot(
        "briefing", "--watchlist", "CHIPS", "--at", "2026-11-25T08:30", "--json",
        config=config_file, db_url=db_url, fake=fake,
    )  # fmt: skip
    assert run.code == 0, run.err
    [brief] = json.loads(run.out)["briefings"]
    assert (brief["subscription_id"], brief["channel"], brief["watchlist"]) == (None, "console", "chips")
    assert [t["symbol"] for t in brief["tickers"]] == ["NVDA"]


async def test_user_errors_exit_2_with_a_fix(config_file: Path, db_url: str, fake: YahooFake) -> None:
    run = await marketbot(
        "briefing",
        "--watchlist",
        "nope",
        "--at",
        "2026-11-25T08:30",
        config=config_file,
        db_url=db_url,
        fake=fake,
    )
    assert run.code == 2
    assert run.err.startswith(
        "marketbot: error: no watchlist named 'nope'; known watchlists: chips, cloud-china"
    )
    run = await marketbot("briefing", "--at", "yesterday", config=config_file, db_url=db_url)
    assert run.code == 2
    assert "--at 'yesterday' is not an ISO time" in run.err
    assert "Traceback" not in run.err

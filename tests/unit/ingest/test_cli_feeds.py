"""``marketbot feeds``: what an operator sees about each feed, and ``--enable``."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from bot.app import feed_options
from bot.cli import app
from bot.config import load_config
from bot.ingest.poller import Poller
from bot.ingest.sources import all_feeds
from bot.store import open_store
from tests.fakes.feed_host import FeedHost, entry, rss

CONFIG = """
timezone: America/New_York
feeds:
  - name: Good feed
    url: {good}
  - name: Broken feed
    url: {broken}
  - name: Switched off
    url: https://off.example/feed.xml
    enabled: false
ticker_feeds:
  - "{ticker}"
watchlists:
  - name: chips
    tickers: [NVDA]
    keywords: [chips]
ingest:
  max_failures: 2
"""


def test_feeds_shows_status_failures_next_poll_and_how_to_fix_a_disabled_feed(tmp_path: Path) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    cfg_path = tmp_path / "bot.yaml"
    env = {"MARKETBOT_DATABASE_URL": db, "MARKETBOT_CONFIG": str(cfg_path)}
    runner = CliRunner()

    async def poll_twice() -> None:
        async with FeedHost() as host:
            now = datetime.now(UTC)
            good = host.serve("/good.xml", rss([entry("A story", "https://x.test/1", published=now)]))
            broken = host.serve("/broken.xml", b"", fail_times=-1, fail_status=503)
            ticker = host.serve("/t/NVDA.xml", rss([entry("NVDA story", "https://x.test/2", published=now)]))
            cfg_path.write_text(
                CONFIG.format(good=good, broken=broken, ticker=ticker.replace("NVDA", "{ticker}"))
            )
            cfg = load_config(cfg_path)
            async with (
                open_store(db) as store,
                Poller(
                    store=store,
                    sources=all_feeds(feed_options(cfg), cfg.domain_watchlists()),
                    config=cfg.ingest,
                ) as poller,
            ):
                await poller.run_once()
                await poller.run_once(force=True)  # the broken feed backs off: poll it anyway

    asyncio.run(poll_twice())

    result = runner.invoke(app, ["feeds", "--json"], env=env)
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert set(rows) == {"Good feed", "Broken feed", "Switched off", "NVDA news (127.0.0.1)"}
    good = rows["Good feed"]
    assert (good["status"], good["items"], good["failures"], good["disabled_reason"]) == ("200", 1, 0, None)
    assert datetime.fromisoformat(good["next_poll"]) > datetime.now(UTC) + timedelta(seconds=60)
    broken = rows["Broken feed"]
    assert broken["status"] == "disabled" and broken["failures"] == 2 and broken["next_poll"] is None
    assert broken["disabled_reason"] == "2 consecutive failures, last: HTTP 503 Service Unavailable"
    assert f"marketbot feeds --enable {broken['id']}" in broken["fix"]
    assert rows["Switched off"]["status"] == "off (enabled: false)"
    assert rows["NVDA news (127.0.0.1)"]["origin"] == "ticker" and rows["NVDA news (127.0.0.1)"]["items"] == 1

    table = runner.invoke(app, ["feeds"], env=env)
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[0].split() == [
        "FEED",
        "ORIGIN",
        "STATUS",
        "LAST",
        "SUCCESS",
        "ITEMS",
        "FAILURES",
        "NEXT",
        "POLL",
    ]
    good_line = next(line for line in lines if line.startswith("Good feed"))
    assert "just now" in good_line and ("in 1m" in good_line or "in 2m" in good_line)
    assert "    disabled: 2 consecutive failures, last: HTTP 503 Service Unavailable" in lines
    assert lines[-1] == "4 feeds, 1 failing or disabled"

    enabled = runner.invoke(app, ["feeds", "--enable", "broken feed", "--json"], env=env)
    assert enabled.exit_code == 0, enabled.output
    again = {r["name"]: r for r in json.loads(enabled.stdout)}["Broken feed"]
    assert again["disabled_reason"] is None and again["failures"] == 0 and again["status"] == "HTTP 503"

    unknown = runner.invoke(app, ["feeds", "--enable", "nope"], env=env)
    assert unknown.exit_code == 1
    assert "no feed is called 'nope'" in unknown.output


def test_feeds_before_the_first_poll(tmp_path: Path) -> None:
    cfg_path = tmp_path / "bot.yaml"
    cfg_path.write_text(
        "feeds:\n  - name: Fed\n    url: https://www.federalreserve.gov/feeds/press_all.xml\n"
    )
    env = {
        "MARKETBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
        "MARKETBOT_CONFIG": str(cfg_path),
    }
    result = CliRunner().invoke(app, ["feeds"], env=env)
    assert result.exit_code == 0, result.output
    assert "never polled" in result.stdout and "never" in result.stdout

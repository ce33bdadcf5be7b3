"""End to end: the app is uninstalled from Slack while ``marketbot run`` runs, then reinstalled.

The real bot process against the fake Slack (HTTP mode), a feed host and Yahoo on loopback:
while the bot token is revoked, a matching story stays queued — ``/healthz`` answers 503 and
names SLACK_BOT_TOKEN, ``marketbot health`` says the same in one line per problem, ``marketbot
subscriptions`` shows the subscription still active with its alert queued — and once Slack
accepts the token again the alert arrives by itself, once, with no restart; the operators'
``notify`` channel then gets the pause notice (it waited in the queue) and the recovery.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import running
from tests.fakes.feed_host import FeedHost, entry, rss
from tests.fakes.slack import FakeSlack
from tests.fakes.yahoo import YahooFake

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
CHANNEL = "C0MARKETS1"
OPS = "C0OPSOPS01"

CONFIG = """
timezone: America/New_York
feeds:
  - name: "Wire"
    url: {feed}
    interval: 30
watchlists:
  - name: cloud-china
    tickers: [AMZN, MSFT, BABA]
    keywords: ["export control", cloud]
subscriptions:
  - watchlist: cloud-china
    channel: slack:{channel}
notify: slack:{ops}
web:
  host: 127.0.0.1
  port: 0
"""


def _health(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


async def _cli(env: dict[str, str], cwd: Path, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_a_revoked_slack_token_pauses_delivery_and_it_resumes_by_itself(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    old = entry("Quarterly calendar", "https://wire.test/old", guid="old", published=now - timedelta(hours=1))
    async with FakeSlack() as slack, FeedHost() as feeds, YahooFake() as yahoo:
        slack.add_channel(CHANNEL, "markets")
        slack.add_channel(OPS, "marketbot-ops")
        feed = feeds.serve("/wire.xml", rss([old]))
        (tmp_path / "bot.yaml").write_text(
            CONFIG.format(feed=feed, channel=CHANNEL, ops=OPS), encoding="utf-8"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DISCORD_", "MARKETBOT_"))}
        env.update(
            PYTHONPATH=str(ROOT),
            MARKETBOT_CONFIG=str(tmp_path / "bot.yaml"),
            MARKETBOT_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'marketbot.db'}",
            MARKETBOT_YAHOO_URL=yahoo.url,
            MARKETBOT_WEB_PORT="0",
            SLACK_BOT_TOKEN=slack.bot_token,
            SLACK_SIGNING_SECRET=slack.signing_secret,
            SLACK_API_URL=slack.api_url,
        )
        async with running(env, tmp_path) as bot:
            m = await bot.wait_log(r"http server on (http://127\.0\.0\.1:\d+)", timeout=90)
            health_url = m.group(1) + "/healthz"
            await slack.wait_for(lambda: feeds.requests_to("/wire.xml"), timeout=60)

            slack.revoke_bot_token()  # the workspace removes the app
            new = entry(
                "Amazon cloud export control deal", "https://wire.test/new", guid="new", published=now
            )
            feeds.update("/wire.xml", body=rss([new, old]))
            await bot.wait_log(r"Slack delivery is paused: .*SLACK_BOT_TOKEN", timeout=120)
            assert slack.messages(CHANNEL) == []

            status, report = await asyncio.to_thread(_health, health_url)
            assert status == 503 and report["status"] == "degraded"
            assert any("SLACK_BOT_TOKEN" in p for p in report["problems"])
            assert report["checks"]["slack"]["delivery"]["delivery"] == "paused"

            code, out, err = await _cli(env, tmp_path, "health", "--url", health_url)
            assert code == 1 and "degraded" in err and "SLACK_BOT_TOKEN" in err and "Traceback" not in err

            code, out, err = await _cli(env, tmp_path, "subscriptions", "--json")
            assert code == 0, err
            [row] = json.loads(out)
            assert (row["state"], row["queued"], row["failed"]) == ("active", 1, 0)
            assert "SLACK_BOT_TOKEN" in row["platform_paused"]["reason"]

            slack.restore_bot_token()  # reinstalled; the bot notices on its own
            [alert] = await slack.wait_for(lambda: slack.messages(CHANNEL), timeout=120)
            assert "Amazon cloud export control deal" in alert.visible
            await bot.wait_log(r"Slack accepts the credentials again: delivery resumed", timeout=30)
            status, report = await asyncio.to_thread(_health, health_url)
            assert status == 200 and report["problems"] == []
            assert len(slack.messages(CHANNEL)) == 1
            # the operators' channel: the pause notice waited in the queue, then the recovery
            paused, resumed = await slack.wait_for(
                lambda: slack.messages(OPS) if len(slack.messages(OPS)) >= 2 else None, timeout=120
            )
            assert "Slack delivery is paused" in paused.visible and "SLACK_BOT_TOKEN" in paused.visible
            assert "Slack delivery resumed" in resumed.visible

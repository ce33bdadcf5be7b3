"""The `marketbot` command as users run it: check, db upgrade, --version, run and a clean stop."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import urllib.request

import pytest

import bot
from tests.e2e.conftest import ROOT, Bot

pytestmark = pytest.mark.e2e

VALID = {
    "timezone": "America/New_York",
    "feeds": [{"name": "Wire", "url": "http://127.0.0.1:9/feed.xml", "interval": 60}],
    "watchlists": [
        {"name": "cloud-china", "tickers": ["AMZN", "MSFT"], "keywords": ["export control", "cloud"]}
    ],
    "subscriptions": [{"watchlist": "cloud-china", "channel": "console"}],
}

BROKEN = {
    "missing file": (None, "config file not found"),
    "invalid yaml": ("watchlists: [\n", "invalid YAML"),
    "unknown key": ("watchlistz: []\n", "did you mean 'watchlists'"),
    "wrong type": (
        "feeds:\n  - name: a\n    url: https://a.example/rss\n    interval: often\n",
        "feeds[0].interval",
    ),
    "duplicate watchlist": (
        "watchlists:\n  - name: a\n    keywords: [x]\n  - name: a\n    keywords: [y]\n",
        "duplicate watchlist name 'a'",
    ),
    "unknown watchlist": (
        "watchlists:\n  - name: chips\n    keywords: [x]\nsubscriptions:\n  - watchlist: chip\n    channel: console\n",
        "unknown watchlist 'chip'; did you mean 'chips'?",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
async def test_check_explains_each_broken_config_and_writes_nothing(bot_env: Bot, case: str) -> None:
    text, expected = BROKEN[case]
    if text is not None:
        bot_env.config_path.write_text(text)
    result = await bot_env.run("check")
    assert result.code == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (bot_env.workdir / "data").exists()


async def test_check_unreachable_database_is_exit_2(bot_env: Bot) -> None:
    bot_env.write_config(VALID)
    bot_env.env["MARKETBOT_DATABASE_URL"] = "postgresql+asyncpg://marketbot:s3cret@127.0.0.1:9/marketbot"
    result = await bot_env.run("check")
    assert result.code == 2
    assert "cannot use the database" in result.stderr and "MARKETBOT_DATABASE_URL" in result.stderr
    assert "s3cret" not in result.stderr
    assert "Traceback" not in result.stderr


async def test_check_summarises_a_valid_config_without_writing(bot_env: Bot) -> None:
    bot_env.write_config(VALID)
    result = await bot_env.run("check", "--config", str(bot_env.config_path))
    assert result.code == 0, result.stderr
    out = result.stdout
    assert "is valid" in out and "feeds: 1 configured" in out
    assert "cloud-china: tickers AMZN, MSFT; keywords 'export control', cloud" in out
    assert "cloud-china → console" in out
    assert "console only" in out
    assert "will be created" in out
    assert not (bot_env.workdir / "data").exists()


async def test_version_and_db_upgrade(bot_env: Bot) -> None:
    version = await bot_env.run("--version")
    assert version.stdout.strip() == f"marketbot {bot.__version__}"
    bot_env.write_config(VALID)
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from bot.store.db import MIGRATIONS

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(cfg).get_current_head()  # other branches add revisions too
    first = await bot_env.run("db", "upgrade")
    assert first.code == 0 and f"upgraded empty → {head}" in first.stdout, first.stderr
    again = await bot_env.run("db", "upgrade")
    assert f"already at {head}" in again.stdout


async def test_run_starts_serves_health_and_stops_cleanly_on_ctrl_c(bot_env: Bot) -> None:
    bot_env.write_config({**VALID, "web": {"host": "127.0.0.1", "port": 0}})
    bot_env.env["MARKETBOT_LOG_FORMAT"] = "json"
    proc = await bot_env.start("run")
    assert proc.stderr is not None
    port = None
    lines: list[dict[str, object]] = []
    try:
        async with asyncio.timeout(60):
            while True:
                raw = await proc.stderr.readline()
                assert raw, "marketbot run exited early"
                record = json.loads(raw)  # every log line is one JSON object
                lines.append(record)
                found = re.search(r"http://127\.0\.0\.1:(\d+)", str(record["message"]))
                if found:
                    port = int(found.group(1))
                if "running" in str(record["message"]):
                    break
        assert port is not None
        body = await asyncio.to_thread(
            lambda: json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=30).read())
        )
        assert body["status"] == "ok" and body["checks"]["database"] == "ok"
        metrics = await asyncio.to_thread(
            lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30).read().decode()
        )
        replica = f"{socket.gethostname()}-{proc.pid}"
        assert f'marketbot_uptime_seconds{{replica="{replica}"}}' in metrics
        assert f'marketbot_replicas_live{{replica="{replica}"}} 1.0' in metrics
        assert f'marketbot_outbox_depth{{replica="{replica}",status="pending"}} 0.0' in metrics
        for histogram in (
            "feed_fetch_seconds",
            "story_to_post_seconds",
            "command_ack_seconds",
            "quote_seconds",
        ):
            assert f"# TYPE marketbot_{histogram} histogram" in metrics
        # the Grafana dashboard in config/ charts only series the bot exposes
        dashboard = json.loads((ROOT / "config" / "grafana-dashboard.json").read_text())
        charted = {
            re.sub(r"_(bucket|count|sum)$", "", name)
            for panel in dashboard["panels"]
            for target in panel["targets"]
            for name in re.findall(r"marketbot_\w+", target["expr"])
        }
        exposed = set(re.findall(r"^# TYPE (marketbot_\w+)", metrics, flags=re.M))
        exposed |= {name.removesuffix("_total") + "_total" for name in exposed}  # counters: name_total
        with_a_chat_platform = {"marketbot_delivery_paused"}  # one series per connected platform
        assert charted - exposed - with_a_chat_platform == set()
        ready = await asyncio.to_thread(
            lambda: json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=30).read())
        )
        assert ready == {"status": "ready", "replica": replica, "checks": {"database": "ok"}}
        status = await bot_env.run("status", "--json")
        assert status.code == 0, status.stderr
        replicas = json.loads(status.stdout)["replicas"]
        assert [(r["id"], r["alive"], r["pid"]) for r in replicas] == [(replica, True, proc.pid)]
        text = await bot_env.run("status")
        assert replica in text.stdout and "alive" in text.stdout and "outbox: " in text.stdout
    finally:
        proc.send_signal(signal.SIGINT)
        _out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0
    records = [json.loads(line) for line in err.decode().splitlines() if line.strip()]
    assert records[-1]["message"] == "stopped cleanly"
    assert {r.get("replica") for r in lines + records} == {f"{socket.gethostname()}-{proc.pid}"}
    assert (bot_env.workdir / "data" / "marketbot.db").exists()
    after = json.loads((await bot_env.run("status", "--json")).stdout)
    assert after["replicas"] == []  # a clean stop says goodbye: nothing left to expire


async def test_run_with_half_a_slack_setup_says_what_to_set(bot_env: Bot) -> None:
    bot_env.write_config(VALID)
    bot_env.env["SLACK_BOT_TOKEN"] = "xoxb-1111-2222-abcdefghijkl"
    result = await bot_env.run("run")
    assert result.code == 2
    assert "SLACK_APP_TOKEN" in result.stderr and "SLACK_SIGNING_SECRET" in result.stderr
    assert "xoxb-1111" not in result.stderr and "Traceback" not in result.stderr

"""``marketbot subscriptions``: what an operator sees about each subscription."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from bot.cli import app
from bot.domain.models import ChannelRef, MessageRef
from bot.domain.records import SubscriptionSpec
from bot.store import open_store
from tests.support.factories import entry

T0 = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)
CONFIG = """
timezone: America/New_York
watchlists:
  - name: cloud-china
    tickers: [AMZN]
    keywords: [cloud]
subscriptions:
  - watchlist: cloud-china
    channel: slack:C0123ABCD
    quiet_hours: "22:00-06:00"
    max_per_hour: 10
"""


def test_subscriptions_shows_state_reason_fix_and_counts(tmp_path: Path) -> None:
    cfg = tmp_path / "bot.yaml"
    cfg.write_text(CONFIG)
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    env = {"MARKETBOT_DATABASE_URL": url, "MARKETBOT_CONFIG": str(cfg)}
    runner = CliRunner()

    # first run: the config's subscription appears, never delivered, nothing queued
    first = runner.invoke(app, ["subscriptions", "--json"], env=env)
    assert first.exit_code == 0, first.output
    (row,) = json.loads(first.stdout)
    assert (row["channel"], row["watchlist"], row["origin"], row["state"]) == (
        "slack:C0123ABCD",
        "cloud-china",
        "config",
        "active",
    )
    assert row["options_text"] == "quiet 22:00-06:00, max 10/h"
    assert (row["last_delivery_at"], row["queued"], row["held"], row["failed"]) == (None, 0, 0, 0)

    discord = ChannelRef("discord", "112233445566778899", "999")

    async def happen() -> int:
        async with open_store(url) as store:
            sub = await store.add_subscription(
                SubscriptionSpec("cloud-china", discord, scope="config"), created_by="discord:42"
            )
            config_sub = (await store.list_subscriptions(channel=ChannelRef("slack", "C0123ABCD")))[0]
            config_ch = config_sub.channel
            await store.enqueue(
                [
                    entry("a", config_sub.id, at=T0, channel=config_ch, title="a", story_id="a"),
                    entry("b", config_sub.id, at=T0, channel=config_ch, title="b", story_id="b"),
                    entry(
                        "c", config_sub.id, at=T0, status="held", channel=config_ch, title="c", story_id="c"
                    ),
                    entry("d", sub.id, at=T0, channel=discord, title="d", story_id="d"),
                ]
            )
            got = await store.claim_due(now=T0, limit=10, lease=timedelta(seconds=60), worker="w")
            for e in got:
                if e.key == "a":
                    await store.mark_sent(e.id, ref=MessageRef(e.alert.channel, "1"), now=T0)  # type: ignore[arg-type]
                else:
                    await store.mark_failed(e.id, error="Missing Access (50001)")  # type: ignore[arg-type]
            await store.mark_subscription_broken(
                sub.id, "Missing Access (50001): the bot cannot see the channel"
            )
            return sub.id

    broken_id = asyncio.run(happen())
    table = runner.invoke(app, ["subscriptions"], env=env)
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[0].split() == [
        "ID",
        "CHANNEL",
        "WATCHLIST",
        "ORIGIN",
        "STATE",
        "LAST",
        "DELIVERY",
        "QUEUED",
        "HELD",
        "FAILED",
        "OPTIONS",
    ]
    assert "slack:C0123ABCD" in lines[1] and "2026-11-25 08:00 EST" in lines[1] and "active" in lines[1]
    assert lines[1].split()[-7:-4] == ["1", "1", "0"]  # queued 1 (b), held 1 (c), failed 0
    assert lines[1].endswith("quiet 22:00-06:00, max 10/h")
    assert "discord:112233445566778899" in lines[2] and "broken" in lines[2] and "never" in lines[2]
    assert lines[3].strip() == "broken: Missing Access (50001): the bot cannot see the channel"
    assert lines[4].strip().startswith("fix: fix the channel or the bot's access")
    assert f"marketbot subscriptions --repair {broken_id}" in lines[4]

    repaired = runner.invoke(app, ["subscriptions", "--json", "--repair", str(broken_id)], env=env)
    assert repaired.exit_code == 0, repaired.output
    states = {r["id"]: (r["state"], r["broken_reason"], r["failed"]) for r in json.loads(repaired.stdout)}
    assert states[broken_id] == ("active", None, 1)  # the failed alert stays failed: nothing is re-sent

    missing = runner.invoke(app, ["subscriptions", "--repair", "999"], env=env)
    assert missing.exit_code == 1
    assert "there is no subscription 999" in missing.stderr

"""Revoke the bot's token in the fake Slack / Discord: alerts queue, nothing breaks; restore it: they arrive.

The real slack_sdk and discord.py talk to the loopback fakes; the dispatcher and the store are
the real ones (SQLite and PostgreSQL). The re-check schedule runs on a ManualClock, so no test
waits for backoff in real time.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.chat.discord_bot import DiscordAdapter
from bot.chat.slack_app import SlackAdapter
from bot.cli import app
from bot.delivery.dispatcher import RECHECK_CAP, Dispatcher
from bot.domain.models import ChannelRef
from bot.domain.records import PlatformPause
from bot.domain.timeutil import ManualClock
from bot.store import SqlStore, open_store
from tests.fakes.discord import DiscordFake
from tests.fakes.slack import FakeSlack
from tests.support.clock import VirtualSleep
from tests.support.factories import story
from tests.unit.delivery.support import config, make_world

ALERTS = "C0ALERTS01"
OTHER = "C0OTHER001"
PRICES = {"NVDA": (140.0, 133.0)}


@pytest.fixture
async def slack_fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        fake.add_channel(ALERTS, "alerts")
        fake.add_channel(OTHER, "other")
        yield fake


def titles(fake: FakeSlack, channel: str) -> list[str]:
    return [m.visible.split("\n", 1)[0] for m in fake.messages(channel)]


@pytest.mark.parametrize("error", ["token_revoked", "invalid_auth", "account_inactive"])
async def test_slack_token_revoked_then_restored(
    store: SqlStore, clock: ManualClock, slack_fake: FakeSlack, error: str
) -> None:
    w = await make_world(store, clock, prices=PRICES)
    async with SlackAdapter(
        bot_token=slack_fake.bot_token, api_url=slack_fake.api_url, clock=clock, listen=False
    ) as slack:
        dispatcher = Dispatcher(
            store, {"slack": slack}, w.cfg.delivery, clock, "w1", sleep=VirtualSleep(clock)
        )
        subs = [await w.subscribe("chips", ChannelRef("slack", c)) for c in (ALERTS, OTHER)]
        await w.ingest(story("Nvidia semiconductor one", at=clock.now()))
        assert (await dispatcher.drain()).sent == 2

        slack_fake.revoke_bot_token(error)
        for name in ("two", "three"):
            await w.ingest(story(f"Nvidia semiconductor {name}", at=clock.now()))
        report = await dispatcher.drain()
        assert (report.sent, report.failed) == (0, 0)
        posts = len(slack_fake.calls_to("chat.postMessage"))
        for _ in range(6):  # hours of re-checks: auth.test only, never a post
            clock.advance(RECHECK_CAP)
            await dispatcher.drain()
        assert len(slack_fake.calls_to("chat.postMessage")) == posts
        assert all(c.error == error for c in slack_fake.calls_to("auth.test")[1:])
        for sid in subs:
            sub = await store.get_subscription(sid)
            assert sub is not None and sub.state == "active"
            assert (await store.channel_stats())[sid].failed == 0
        assert dispatcher.platform_status()["slack"]["reason"].count("SLACK_BOT_TOKEN") >= 1

        slack_fake.restore_bot_token()
        clock.advance(RECHECK_CAP)
        report = await dispatcher.drain()
        assert (report.sent, report.failed) == (4, 0)
        for channel in (ALERTS, OTHER):
            assert [t.replace("*", "") for t in titles(slack_fake, channel)] == [
                f"Nvidia semiconductor {n}" for n in ("one", "two", "three")
            ]
        assert await store.platform_pauses() == {}
        clock.advance(RECHECK_CAP)
        assert (await dispatcher.drain()).handled == 0  # exactly once


async def test_slack_rejected_at_start_up_is_checked_at_once_after_a_restart(
    sqlite_store: SqlStore, clock: ManualClock, slack_fake: FakeSlack
) -> None:
    w = await make_world(sqlite_store, clock, prices=PRICES)
    await w.subscribe("chips", ChannelRef("slack", ALERTS))
    slack_fake.revoke_bot_token()
    async with SlackAdapter(
        bot_token=slack_fake.bot_token, api_url=slack_fake.api_url, clock=clock, listen=False
    ) as slack:
        first = Dispatcher(
            sqlite_store, {"slack": slack}, w.cfg.delivery, clock, "w1", sleep=VirtualSleep(clock)
        )
        await w.ingest(story("Nvidia semiconductor queued", at=clock.now()))
        assert (await first.drain()).sent == 0
    assert slack_fake.calls_to("chat.postMessage") == []  # paused from start-up: nothing was tried

    slack_fake.restore_bot_token()  # the operator fixes it, then restarts the bot
    clock.advance(5)
    async with SlackAdapter(
        bot_token=slack_fake.bot_token, api_url=slack_fake.api_url, clock=clock, listen=False
    ) as slack:
        second = Dispatcher(
            sqlite_store, {"slack": slack}, w.cfg.delivery, clock, "w2", sleep=VirtualSleep(clock)
        )
        assert (await second.drain()).sent == 1
    assert len(slack_fake.messages(ALERTS)) == 1


async def test_discord_token_reset_then_restored(store: SqlStore, clock: ManualClock) -> None:
    async with DiscordFake() as fake:
        world = fake.world()
        channel = ChannelRef("discord", str(world.channel.id), workspace=str(world.guild.id))
        w = await make_world(store, clock, prices=PRICES, cfg=config())
        async with DiscordAdapter(
            token=fake.token, api_url=fake.api_url, gateway_url=fake.gateway_url
        ) as bot:
            dispatcher = Dispatcher(
                store, {"discord": bot}, w.cfg.delivery, clock, "w1", sleep=VirtualSleep(clock)
            )
            sid = await w.subscribe("chips", channel)
            await w.ingest(story("Nvidia semiconductor one", at=clock.now()))
            assert (await dispatcher.drain()).sent == 1

            await fake.reset_token()
            for name in ("two", "three"):
                await w.ingest(story(f"Nvidia semiconductor {name}", at=clock.now()))
            report = await dispatcher.drain()
            assert (report.sent, report.failed) == (0, 0)
            for _ in range(4):
                clock.advance(RECHECK_CAP)
                await dispatcher.drain()
            sub = await store.get_subscription(sid)
            assert sub is not None and sub.state == "active"
            assert "DISCORD_BOT_TOKEN" in (await store.platform_pauses())["discord"].reason

            fake.restore_token()
            clock.advance(RECHECK_CAP)
            report = await dispatcher.drain()
            assert (report.sent, report.failed) == (2, 0)
            shown = [m.embeds[0]["title"] for m in fake.messages(world.channel.id)]
            assert shown == [f"Nvidia semiconductor {n}" for n in ("one", "two", "three")]
            await bot.wait_connected(timeout=30)  # the gateway is back too
            clock.advance(timedelta(hours=1))
            assert (await dispatcher.drain()).handled == 0


def test_subscriptions_says_the_platform_is_paused_and_nothing_is_broken(tmp_path: Path) -> None:
    """``marketbot subscriptions`` (another process) reads the stored pause: what, since when, fix."""
    cfg = tmp_path / "bot.yaml"
    cfg.write_text(
        "timezone: America/New_York\nwatchlists:\n  - name: chips\n    keywords: [semiconductor]\n"
        "subscriptions:\n  - watchlist: chips\n    channel: slack:C0123ABCD\n"
    )
    env = {
        "MARKETBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
        "MARKETBOT_CONFIG": str(cfg),
    }
    runner = CliRunner()
    assert runner.invoke(app, ["subscriptions"], env=env).exit_code == 0

    async def pause() -> None:
        async with open_store(env["MARKETBOT_DATABASE_URL"]) as store:
            await store.pause_platform(
                PlatformPause(
                    platform="slack",
                    code="token_revoked",
                    reason="the Slack bot token was revoked: reinstall the app and update SLACK_BOT_TOKEN",
                    setting="SLACK_BOT_TOKEN",
                    since=datetime(2026, 11, 25, 13, 0, tzinfo=UTC),
                )
            )

    asyncio.run(pause())
    table = runner.invoke(app, ["subscriptions"], env=env)
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert "active" in lines[1] and "broken" not in table.stdout
    assert lines[2].strip() == "paused: slack rejects the bot's credentials"
    assert lines[-1].startswith(
        "slack delivery paused since 2026-11-25 08:00 EST: the Slack bot token was revoked"
    )
    assert "SLACK_BOT_TOKEN" in lines[-1] and "go out by themselves" in lines[-1]
    [row] = json.loads(runner.invoke(app, ["subscriptions", "--json"], env=env).stdout)
    assert row["state"] == "active" and row["platform_paused"]["setting"] == "SLACK_BOT_TOKEN"

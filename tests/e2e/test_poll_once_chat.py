"""`marketbot poll --once` with chat tokens set: alerts go out over REST, and the short-lived
process never opens a Socket Mode or gateway session that could take slash commands meant for
the running bot (nor re-registers Discord's commands on every run)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.e2e.conftest import Bot
from tests.fakes.discord import DiscordFake
from tests.fakes.feed_host import FeedHost, entry, rss
from tests.fakes.slack import FakeSlack
from tests.fakes.yahoo import YahooFake

pytestmark = pytest.mark.e2e

NOW = datetime(2026, 11, 25, 13, 10, tzinfo=UTC)
TITLE = "Amazon and Microsoft fall as US weighs cloud curbs for Chinese AI developers"


class Frozen:
    def now(self) -> datetime:
        return NOW


async def _two_polls(bot_env: Bot, host: FeedHost, channel: str, yahoo: YahooFake) -> None:
    url = host.serve("/wire.xml", rss([]), etag='"1"')
    bot_env.write_config(
        {
            "feeds": [{"name": "Wire", "url": url, "interval": 60}],
            "watchlists": [{"name": "cloud-china", "tickers": ["AMZN", "MSFT"], "keywords": ["cloud"]}],
            "subscriptions": [{"watchlist": "cloud-china", "channel": channel}],
            "web": {"enabled": False},
        }
    )
    bot_env.env["MARKETBOT_YAHOO_URL"] = yahoo.url
    bot_env.env["MARKETBOT_NOW"] = NOW.isoformat()
    first = await bot_env.run("poll", "--once")
    assert first.code == 0, first.stderr
    story = entry(TITLE, "https://wire.example/cloud", published=datetime(2026, 11, 25, 13, 5, tzinfo=UTC))
    host.update("/wire.xml", body=rss([story]), etag='"2"')
    second = await bot_env.run("poll", "--once")
    assert second.code == 0, second.stderr
    assert "1 alerts sent" in second.stderr, second.stderr


async def test_slack_poll_once_sends_without_socket_mode(bot_env: Bot) -> None:
    async with FakeSlack() as slack, FeedHost() as host, YahooFake(clock=Frozen()) as yahoo:
        slack.add_channel("C0ALERTS01", "markets")
        bot_env.env.update(
            SLACK_BOT_TOKEN=slack.bot_token, SLACK_APP_TOKEN=slack.app_token, SLACK_API_URL=slack.api_url
        )
        await _two_polls(bot_env, host, "slack:C0ALERTS01", yahoo)
        posted = [m for m in slack.messages("C0ALERTS01") if m.via == "api"]
        assert len(posted) == 1 and TITLE in posted[0].text
        assert slack.calls_to("apps.connections.open") == []


async def test_discord_poll_once_sends_without_gateway_or_command_sync(bot_env: Bot) -> None:
    async with DiscordFake() as discord, FeedHost() as host, YahooFake(clock=Frozen()) as yahoo:
        world = discord.world()
        bot_env.env.update(
            DISCORD_BOT_TOKEN=discord.token,
            DISCORD_API_URL=discord.api_url,
            DISCORD_GATEWAY_URL=discord.gateway_url,
        )
        await _two_polls(bot_env, host, f"discord:{world.channel.id}", yahoo)
        (posted,) = discord.messages(world.channel.id)
        assert TITLE in str(posted.payload)
        assert discord.identify_count == 0
        assert discord.global_commands == [] and discord.commands(world.guild.id) == []

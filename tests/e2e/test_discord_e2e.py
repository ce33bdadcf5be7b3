"""End to end: the real ``marketbot run`` process against Discord, a feed host and Yahoo on loopback.

What a Discord user sees: the bot logs in, registers its commands in the server, connects the
gateway; a moderator runs ``/watch subscribe``; ``/quote AMZN`` shows "thinking…" and then an
embed with a chart; a hostile headline on the feed arrives as one embed in that channel, pinging
no one, although Discord rate-limited the first attempt; after Discord asks the bot to reconnect
it resumes its session and keeps answering; SIGINT stops it cleanly.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.conftest import running
from tests.fakes.discord import EPHEMERAL, DiscordFake, Message, World
from tests.fakes.feed_host import FeedHost, entry, rss
from tests.fakes.yahoo import YahooFake
from tests.support.wait import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = "@everyone Amazon wins <@123456789012345678> cloud deal **now** <@&456456456456456456> @here"
POST_MESSAGE = "POST /channels/{channel_id}/messages"

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
web:
  host: 127.0.0.1
  port: 0
market:
  quote_timeout: 30  # generous: /quote must still come with its chart on a busy machine
"""


def bot_env(tmp_path: Path, discord: DiscordFake, yahoo: YahooFake, world: World) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DISCORD_", "MARKETBOT_"))}
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "MARKETBOT_CONFIG": str(tmp_path / "bot.yaml"),
            "MARKETBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'marketbot.db'}",
            "MARKETBOT_YAHOO_URL": yahoo.url,
            "MARKETBOT_WEB_PORT": "0",
            "DISCORD_BOT_TOKEN": discord.token,
            "DISCORD_API_URL": discord.api_url,
            "DISCORD_GATEWAY_URL": discord.gateway_url,
            "DISCORD_GUILD_IDS": str(world.guild.id),
        }
    )
    return env


async def subscriptions_json(cwd: Path, env: dict[str, str]) -> list[dict[str, object]]:
    """``marketbot subscriptions --json`` next to the running bot, until the state settles."""

    async def listing() -> list[dict[str, object]] | None:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "subscriptions",
            "--json",
            env=env,
            cwd=cwd,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        rows: list[dict[str, object]] = json.loads(out)
        return rows if any(r["state"] == "broken" for r in rows) else None

    return await wait_until(
        listing, what="`marketbot subscriptions` showing it broken", timeout=90, every=0.5
    )


def alerts(discord: DiscordFake, world: World) -> list[Message]:
    """Messages the bot posted on its own in the channel (not answers to commands)."""
    return [m for m in discord.messages(world.channel.id) if "interaction_metadata" not in m.payload]


async def test_from_subscribe_to_alert_on_discord(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    old = entry(
        "Quarterly earnings calendar", "https://wire.test/old", guid="old", published=now - timedelta(hours=1)
    )
    async with DiscordFake() as discord, FeedHost() as feeds, YahooFake() as yahoo:
        world = discord.world()
        feed = feeds.serve("/wire.xml", rss([old]))
        (tmp_path / "bot.yaml").write_text(CONFIG.format(feed=feed), encoding="utf-8")

        async with running(bot_env(tmp_path, discord, yahoo, world), tmp_path) as bot:
            # log in, register the commands in the server, connect the gateway
            conn = await discord.wait_connected(timeout=120)
            identify = next(f for f in conn.received if f["op"] == 2)
            assert identify["d"]["intents"] == 1, "Guilds only: no privileged intents"
            assert {c["name"] for c in discord.commands(world.guild.id)} == {"quote", "news", "watch", "feed"}
            assert discord.global_commands == []
            await discord.wait_for(
                lambda: bool(feeds.requests_to("/wire.xml")), timeout=90, what="a first poll"
            )
            bot.alive()

            # a moderator subscribes the channel
            sub = await discord.slash(world.moderator, world.channel, "watch subscribe", name="cloud-china")
            answer = await sub.reply(timeout=60)
            assert not answer.ephemeral and "cloud-china" in answer.visible_text()

            # /quote: "thinking…" at once, then the answer with its chart
            quote = await discord.slash(world.member, world.channel, "quote", tickers="AMZN")
            ack = await quote.ack(timeout=30)
            assert ack["type"] == 5 and not int((ack.get("data") or {}).get("flags") or 0) & EPHEMERAL
            quoted = await quote.reply(timeout=90)
            assert "AMZN" in quoted.visible_text()
            (embed,) = quoted.embeds
            assert quoted.attachments, quoted.visible_text()
            png = quoted.file(quoted.attachments[0]["filename"])
            assert png.startswith(b"\x89PNG")
            assert embed["image"]["url"] == quoted.attachments[0]["url"]

            # Discord rate-limits the first attempt; a hostile headline arrives on the feed
            discord.fail(POST_MESSAGE, status=429, times=1, retry_after=1.0, channel_id=world.channel.id)
            new = entry(HOSTILE, "https://wire.test/amzn-cloud", guid="new", published=datetime.now(UTC))
            feeds.update("/wire.xml", body=rss([new, old]))
            await discord.wait_for(lambda: bool(alerts(discord, world)), timeout=150, what="the alert")
            (alert,) = alerts(discord, world)

            posts = [
                r
                for r in discord.requests_to(POST_MESSAGE)
                if r.path.endswith(f"/{world.channel.id}/messages")
            ]
            assert [r.status for r in posts] == [429, 200], "retried after Retry-After, sent once"
            assert posts[1].at - posts[0].at >= 1.0
            assert posts[1].json["allowed_mentions"]["parse"] == []
            assert alert.pinged == [] and alert.payload["mention_everyone"] is False
            assert not alert.content
            (shown_embed,) = alert.embeds
            assert shown_embed["url"] == "https://wire.test/amzn-cloud"
            for part in alert.visible():
                assert part.mentions == [] and part.links == [] and not part.formatted, part
            title = alert.visible()[0].text
            assert "@everyone Amazon wins" in title and "**now**" in title and "@here" in title
            assert shown_embed["footer"]["text"] == "Wire · cloud-china"
            assert any(f["name"].endswith("AMZN") for f in shown_embed["fields"])

            # Discord asks the bot to reconnect: it resumes the session and keeps answering
            await discord.request_reconnect()
            await discord.wait_for(lambda: discord.resume_count == 1, timeout=60, what="a RESUME")
            assert discord.identify_count == 1
            listing = await (
                await discord.slash(world.moderator, world.channel, "watch subscriptions")
            ).reply(timeout=60)
            assert "cloud-china" in listing.visible_text()
            assert len(alerts(discord, world)) == 1
            assert re.search(r"Discord: 4 commands registered", bot.output)

            # the bot loses access to the channel: the next alert breaks the subscription, once,
            # with the reason and the fix, instead of retrying for a day
            world.channel.hide()
            later = entry(
                "AWS cloud region opens in Shanghai",
                "https://wire.test/aws",
                guid="later",
                published=datetime.now(UTC),
            )
            feeds.update("/wire.xml", body=rss([later, new, old]))
            await discord.wait_for(
                lambda: any(r.status == 403 for r in discord.requests_to(POST_MESSAGE)),
                timeout=150,
                what="the refused send",
            )
            subs = await subscriptions_json(tmp_path, bot.env)
            (sub,) = [s for s in subs if s["channel"] == f"discord:{world.channel.id}"]
            assert sub["state"] == "broken"
            assert "Missing Access" in sub["broken_reason"] and "View Channel" in sub["broken_reason"]
            assert len([r for r in discord.requests_to(POST_MESSAGE) if r.status == 403]) == 1
        assert discord.connections[-1].ws.closed

"""A channel subscribed to two watchlists that both match a story gets ONE message naming both.

The real pipeline, outbox and dispatcher deliver through the real adapters — slack_sdk against
the Slack fake, discord.py against the Discord fake, both on loopback — and the assertions are
about what a reader of each channel sees: one alert naming both watchlists, and one "also
reported by" reply in its thread.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.chat.discord_bot import DiscordAdapter
from bot.chat.slack_app import SlackAdapter
from bot.delivery.dispatcher import Dispatcher
from bot.domain.models import ChannelRef, StorySource
from bot.domain.records import IngestBatch
from bot.domain.timeutil import ManualClock
from bot.ports import ChatAdapter
from bot.store import SqlStore
from tests.fakes.discord import DiscordFake
from tests.fakes.slack import FakeSlack, validate_blocks
from tests.support.factories import story
from tests.unit.delivery.support import make_world

SLACK_CHANNEL = "C0MARKETS1"
PRICES = {"AMZN": (181.20, 182.69), "NVDA": (140.00, 133.00)}
TITLE = "Amazon and Nvidia sign cloud semiconductor supply pact"


@pytest.fixture
async def slack(clock: ManualClock) -> AsyncIterator[tuple[FakeSlack, SlackAdapter]]:
    async with FakeSlack() as fake:
        fake.add_channel(SLACK_CHANNEL, "markets")
        adapter = SlackAdapter(
            bot_token=fake.bot_token,
            app_token=fake.app_token,
            api_url=fake.api_url,
            clock=clock,
            ping_interval=1.0,
        )
        async with adapter:
            yield fake, adapter


@pytest.fixture
async def discord() -> AsyncIterator[tuple[DiscordFake, DiscordAdapter]]:
    async with (
        DiscordFake() as fake,
        DiscordAdapter(token=fake.token, api_url=fake.api_url, gateway_url=fake.gateway_url) as adapter,
    ):
        yield fake, adapter


async def test_overlapping_watchlists_are_one_message_per_channel_on_slack_and_discord(
    sqlite_store: SqlStore,
    clock: ManualClock,
    slack: tuple[FakeSlack, SlackAdapter],
    discord: tuple[DiscordFake, DiscordAdapter],
) -> None:
    slack_fake, slack_adapter = slack
    discord_fake, discord_adapter = discord
    guild = discord_fake.world()
    on_slack = ChannelRef("slack", SLACK_CHANNEL, "T1")
    on_discord = ChannelRef("discord", str(guild.channel.id), str(guild.guild.id))
    w = await make_world(sqlite_store, clock, prices=PRICES)
    adapters: dict[str, ChatAdapter] = {"slack": slack_adapter, "discord": discord_adapter}
    dispatcher = Dispatcher(
        w.store, adapters, w.cfg.delivery, clock, "overlap", sleep=w.sleep, rng=random.Random(7)
    )
    for channel in (on_slack, on_discord):
        await w.subscribe("cloud-china", channel)
        await w.subscribe("chips", channel)

    pact = story(TITLE, at=clock.now())
    assert await w.ingest(pact) == 2  # one row per channel, not per subscription
    report = await dispatcher.drain()
    assert report.sent == 2

    (msg,) = slack_fake.messages(SLACK_CHANNEL)
    assert validate_blocks(msg.blocks) == []
    shown = msg.view().text
    assert TITLE in shown
    assert "watchlists *cloud-china*, *chips*" in shown
    assert "Matched: cloud, semiconductor" in shown  # the union of both watchlists' terms
    assert "*AMZN*" in shown and "*NVDA*" in shown  # and of their tickers
    (embed_msg,) = discord_fake.messages(guild.channel.id)
    (embed,) = embed_msg.embeds
    assert embed["title"] == TITLE
    assert embed["footer"]["text"] == "Reuters · cloud-china, chips"
    assert [f["name"] for f in embed["fields"]] == ["▼ AMZN", "▲ NVDA", "Matched"]
    assert embed["fields"][2]["value"] == "cloud, semiconductor"

    # another outlet reports it: one reply in each channel's thread, not one per subscription
    clock.advance(timedelta(minutes=2))
    src = StorySource("Bloomberg", "https://bloomberg.example/pact", clock.now())
    await w.store.save_ingest(IngestBatch(new_sources=[(pact.id, src)]))
    assert await w.pipeline.process_new_sources([(pact.id, src)]) == 2
    clock.advance(timedelta(minutes=11))
    assert await w.pipeline.flush_followups() == 0
    await dispatcher.drain()
    top, reply = slack_fake.messages(SLACK_CHANNEL)
    assert reply.thread_ts == top.ts and "Also reported by" in reply.view().text
    assert "Bloomberg" in reply.view().text
    discord_messages = discord_fake.messages(guild.channel.id)
    assert len(discord_messages) == 1  # the reply went into a thread on the alert
    thread = discord_fake.channel(embed_msg.id)
    assert thread.type == 11 and thread.parent_id == guild.channel.id
    (answer,) = discord_fake.messages(thread.id)
    assert "Also reported by" in answer.visible_text() and "Bloomberg" in answer.visible_text()

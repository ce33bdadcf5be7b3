"""Fixtures shared by the chat contract tests: the Discord fake, its world and our adapter on it;
the Slack fake with three users (ann, ada the workspace admin, cfg a configured admin) and our
adapter on it.

``discord_bot`` and ``slack`` bind the module's own ``service`` fixture (each test module builds
the command service it needs); a module with its own ``slack`` fixture uses that instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.chat.discord_bot import DiscordAdapter
from bot.chat.slack_app import SlackAdapter
from bot.commands import CommandService
from tests.fakes.discord import DiscordFake, World
from tests.fakes.slack import FakeSlack


@pytest.fixture
async def fake_discord() -> AsyncIterator[DiscordFake]:
    async with DiscordFake() as server:
        yield server


@pytest.fixture
def world(fake_discord: DiscordFake) -> World:
    return fake_discord.world()


@pytest.fixture
async def discord_bot(
    fake_discord: DiscordFake, world: World, service: CommandService
) -> AsyncIterator[DiscordAdapter]:
    async with DiscordAdapter(
        token=fake_discord.token,
        api_url=fake_discord.api_url,
        gateway_url=fake_discord.gateway_url,
        commands=service,
        guild_ids=[world.guild.id],
    ) as adapter:
        yield adapter


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as server:
        server.add_user("U0USER0001", "ann")
        server.add_user("U0ADMIN001", "ada", is_admin=True)
        server.add_user("U0CONFIG01", "cfg")
        yield server


@pytest.fixture
async def slack(fake_slack: FakeSlack, service: CommandService) -> AsyncIterator[SlackAdapter]:
    adapter = SlackAdapter(
        bot_token=fake_slack.bot_token,
        app_token=fake_slack.app_token,
        api_url=fake_slack.api_url,
        commands=service,
        admins=["slack:U0CONFIG01"],
        ping_interval=1.0,
    )
    await adapter.start()
    try:
        yield adapter
    finally:
        await adapter.aclose()

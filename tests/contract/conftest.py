"""Fixtures shared by the chat contract tests: the Discord fake, its world and our adapter on it.

``discord_bot`` binds the module's own ``service`` fixture (each test module builds the command
service it needs).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.chat.discord_bot import DiscordAdapter
from bot.commands import CommandService
from tests.fakes.discord import DiscordFake, World


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

"""Run the fake by hand: ``python -m tests.fakes.discord``."""

from __future__ import annotations

import asyncio

from tests.fakes.discord.server import DiscordFake


async def _main() -> None:  # pragma: no cover - manual use
    async with DiscordFake() as fake:
        guild = fake.add_guild()
        ch = guild.add_channel("alerts")
        print(f"DISCORD_BOT_TOKEN={fake.token}")
        print(f"DISCORD_API_URL={fake.api_url}")
        print(f"DISCORD_GATEWAY_URL={fake.gateway_url}")
        print(f"DISCORD_GUILD_IDS={guild.id}  channel discord:{ch.id}")
        await asyncio.Event().wait()


if __name__ == "__main__":  # pragma: no cover
    asyncio.run(_main())

"""``marketbot discord invite`` and ``clear-commands``: the real CLI process against the fake Discord."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.fakes.discord import DiscordFake


@pytest.fixture
async def fake() -> AsyncIterator[DiscordFake]:
    async with DiscordFake() as server:
        yield server


async def marketbot(*args: str, **env: str) -> tuple[int, str, str]:
    """Run the real CLI in an empty directory (no .env) with only the given Discord variables."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "SLACK_", "MARKETBOT_"))}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env={**clean, **env},
        cwd=tempfile.gettempdir(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


def query(url: str) -> dict[str, list[str]]:
    parts = urlsplit(url.strip())
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "discord.com", "/oauth2/authorize")
    return parse_qs(parts.query)


async def test_invite_looks_up_the_application_with_the_token(fake: DiscordFake) -> None:
    code, out, err = await marketbot(
        "discord", "invite", DISCORD_BOT_TOKEN=fake.token, DISCORD_API_URL=fake.api_url
    )
    assert code == 0, err
    q = query(out)
    assert q["client_id"] == [str(fake.application_id)]
    assert q["scope"] == ["bot applications.commands"]
    assert q["permissions"] == ["309237696512"]
    (lookup,) = fake.requests_to("GET /oauth2/applications/@me")
    assert lookup.headers["Authorization"] == f"Bot {fake.token}"
    assert "Send Messages in Threads" in err and "no Administrator" in err
    assert fake.token not in out + err


async def test_invite_uses_the_configured_application_id_without_network(fake: DiscordFake) -> None:
    code, out, _ = await marketbot("discord", "invite", DISCORD_APPLICATION_ID="1122334455667788")
    assert code == 0
    assert query(out)["client_id"] == ["1122334455667788"]
    code, out, _ = await marketbot("discord", "invite", "--client-id", "998877665544332211")
    assert code == 0 and query(out)["client_id"] == ["998877665544332211"]
    assert fake.requests == []


async def test_a_rejected_token_says_what_to_fix(fake: DiscordFake) -> None:
    code, out, err = await marketbot(
        "discord", "invite", DISCORD_BOT_TOKEN="wrong-token", DISCORD_API_URL=fake.api_url
    )
    assert code == 2 and out == ""
    assert "DISCORD_BOT_TOKEN" in err and "Reset Token" in err and "Traceback" not in err


async def test_nothing_to_go_on_is_a_usage_error() -> None:
    code, out, err = await marketbot("discord", "invite")
    assert code == 2 and out == ""
    assert "DISCORD_APPLICATION_ID" in err


async def test_clear_commands_removes_the_server_copies(fake: DiscordFake) -> None:
    here = fake.add_guild("Desk")
    elsewhere = fake.add_guild("Not ours", commands_scope=False)
    fake.guild_commands[here.id] = [{"id": "1", "name": "quote", "type": 1}]
    code, out, err = await marketbot(
        "discord",
        "clear-commands",
        str(here.id),
        str(elsewhere.id),
        DISCORD_BOT_TOKEN=fake.token,
        DISCORD_API_URL=fake.api_url,
    )
    assert code == 1, err  # one of the two could not be cleared, and it says why
    assert f"{here.id}: cleared" in out
    assert f"{elsewhere.id}: the bot is not in that server" in out
    assert fake.guild_commands[here.id] == []

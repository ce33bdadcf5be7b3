"""The Discord gateway as discord.py drives it against the fake: login, READY, heartbeats,
RECONNECT and RESUME, invalid sessions, dropped sockets — and no privileged intents ever.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.chat.discord_bot import DiscordAdapter
from bot.domain.models import Reply
from tests.fakes.discord import PRIVILEGED_INTENTS, DiscordFake, World
from tests.support.wait import wait_until


class EchoCommands:
    """A CommandHandler that answers every command with what it was asked."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def handle(self, ctx: object, command: str, text: str) -> Reply:
        self.calls.append(f"{command} {text}")
        return Reply(text=f"/{command} {text}")

    async def complete(self, ctx: object, kind: str, prefix: str) -> list[str]:
        return []


@pytest.fixture
async def fake() -> AsyncIterator[DiscordFake]:
    async with DiscordFake(heartbeat_interval_ms=150) as server:
        yield server


@pytest.fixture
def world(fake: DiscordFake) -> World:
    return fake.world()


@pytest.fixture
async def bot(fake: DiscordFake, world: World) -> AsyncIterator[DiscordAdapter]:
    async with DiscordAdapter(
        token=fake.token,
        api_url=fake.api_url,
        gateway_url=fake.gateway_url,
        commands=EchoCommands(),  # type: ignore[arg-type]
    ) as adapter:
        yield adapter


async def test_login_then_identify_and_ready(fake: DiscordFake, world: World, bot: DiscordAdapter) -> None:
    logins = [f"{r.method} {r.route}" for r in fake.requests[:2]]
    assert logins == ["GET /users/@me", "GET /oauth2/applications/@me"]
    assert all(r.headers["Authorization"] == f"Bot {fake.token}" for r in fake.requests)

    (conn,) = fake.connections
    assert conn.path == "/gateway"
    assert conn.query == {"v": "10", "encoding": "json", "compress": "zlib-stream"}
    assert conn.compressed
    identify = next(f for f in conn.received if f["op"] == 2)
    intents = identify["d"]["intents"]
    assert intents == 1, "only the Guilds intent"
    assert not any(intents & bit for bit in PRIVILEGED_INTENTS)

    assert bot.connected
    status = bot.status()
    assert status["application_id"] == fake.application_id
    assert status["connected"] and status["gateway_connects"] == 1
    await fake.wait_for(lambda: bot.status()["guilds"] == 1, what="GUILD_CREATE cached")


async def test_heartbeats_are_sent_and_acknowledged(fake: DiscordFake, bot: DiscordAdapter) -> None:
    conn = fake.connections[0]
    await fake.wait_for(lambda: conn.heartbeats >= 3, what="three heartbeats")
    assert bot.status()["latency_ms"] is not None


async def test_reconnect_request_resumes_the_same_session(
    fake: DiscordFake, world: World, bot: DiscordAdapter
) -> None:
    first = fake.connections[0]
    session_id = first.session.id if first.session else None
    await fake.request_reconnect()
    await fake.wait_for(lambda: fake.resume_count == 1 and bot.resumes == 1, what="a RESUME")

    second = fake.connections[-1]
    assert second.path == "/gateway-resume", "discord.py reconnects to resume_gateway_url"
    resume = next(f for f in second.received if f["op"] == 6)
    assert resume["d"]["session_id"] == session_id and resume["d"]["seq"] >= 1
    assert fake.identify_count == 1, "resumed, not re-identified"
    assert first.ws.closed
    reply = await (await fake.slash(world.moderator, world.channel, "watch list")).reply()
    assert reply.content == "/watch list"


async def test_events_missed_while_disconnected_are_replayed(
    fake: DiscordFake, world: World, bot: DiscordAdapter
) -> None:
    """The socket drops; a user's command arrives meanwhile; RESUME replays it and it is answered."""
    await fake.drop_connection(code=4000)
    ix = await fake.slash(world.moderator, world.channel, "watch subscriptions")
    await fake.wait_for(lambda: fake.resume_count == 1, what="a RESUME")
    reply = await ix.reply()
    assert reply.content == "/watch subscriptions"
    assert fake.identify_count == 1


async def test_an_invalid_session_identifies_again(
    fake: DiscordFake, world: World, bot: DiscordAdapter
) -> None:
    await fake.invalidate_session(resumable=False)
    await fake.wait_connected(identifies=2)
    await fake.wait_for(lambda: bot.connects == 2, what="a second READY")
    assert fake.resume_count == 0
    reply = await (await fake.slash(world.moderator, world.channel, "watch list")).reply()
    assert reply.content == "/watch list"


async def test_the_gateway_override_is_restored_on_close(fake: DiscordFake) -> None:
    from discord.gateway import DiscordWebSocket
    from discord.http import Route

    before = (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
    async with DiscordAdapter(token=fake.token, api_url=fake.api_url, gateway_url=fake.gateway_url):
        assert str(DiscordWebSocket.DEFAULT_GATEWAY) == fake.gateway_url
    assert before == (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)


async def test_a_token_revoked_while_running_stops_the_gateway(
    fake: DiscordFake, bot: DiscordAdapter
) -> None:
    fake.revoke_token()
    await fake.invalidate_session(resumable=False)  # forces a fresh IDENTIFY, which now fails (4004)
    await fake.wait_for(lambda: any(c.close_code == 4004 for c in fake.connections), what="close 4004")
    await wait_until(lambda: bot.gateway_error is not None, what="the adapter reporting the gateway error")
    assert "DISCORD_BOT_TOKEN" in str(bot.gateway_error)
    assert not bot.connected
    assert "4004" in str(bot.status()["gateway_error"])

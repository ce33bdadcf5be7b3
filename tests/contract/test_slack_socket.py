"""Socket Mode resilience with the real slack_sdk client: Slack refreshes and drops sockets routinely.

After every kind of interruption the bot is reachable again through a websocket URL freshly
issued by ``apps.connections.open``, and a slash command typed afterwards is answered.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Literal

import pytest

from bot.chat.slack_app import SlackAdapter
from bot.domain.models import CommandContext, Reply
from bot.ports import CommandName
from tests.fakes.slack import FakeSlack


class EchoCommands:
    """Answers every command with what was asked, in the channel."""

    async def handle(self, ctx: CommandContext, command: CommandName, text: str) -> Reply:
        return Reply(text=f"/{command} {text}")

    async def complete(
        self, ctx: CommandContext, kind: Literal["watchlist", "ticker"], prefix: str
    ) -> list[str]:
        return []


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as server:
        yield server


@pytest.fixture
async def slack(fake: FakeSlack) -> AsyncIterator[SlackAdapter]:
    adapter = SlackAdapter(
        bot_token=fake.bot_token,
        app_token=fake.app_token,
        api_url=fake.api_url,
        commands=EchoCommands(),
        ping_interval=1.0,  # aiohttp wants each pong within half of it: 0.5 s, not 0.1 s
    )
    async with adapter:
        yield adapter


async def answered(fake: FakeSlack, text: str) -> str:
    result = await fake.slash_command("/quote", text)
    assert result.user_error is None, result.user_error
    [answer] = await result.wait_responses(1)
    return answer.visible


async def test_connects_through_apps_connections_open_on_the_api_base(
    fake: FakeSlack, slack: SlackAdapter
) -> None:
    [opened] = fake.calls_to("apps.connections.open")
    assert opened.token == fake.app_token and opened.ok
    assert [c.id for c in fake.live_connections] == [1]
    assert slack.connected and slack.status()["connections_opened"] == 1
    assert await answered(fake, "AMZN") == "/quote AMZN"


@pytest.mark.parametrize("reason", ["refresh_requested", "warning", "link_disabled"])
async def test_disconnect_envelope_moves_to_a_fresh_connection(
    fake: FakeSlack, slack: SlackAdapter, reason: str
) -> None:
    old = fake.live_connections[-1]
    await fake.send_disconnect(reason, close_after=5.0)
    new = await fake.wait_connected(newer_than=old.id)
    await fake.wait_for(lambda: old.closed)  # the SDK closed the old socket itself
    assert len(fake.calls_to("apps.connections.open")) == 2
    assert await answered(fake, "after refresh") == "/quote after refresh"
    assert new.received  # the ack travelled on the new socket
    await fake.wait_for(lambda: slack.disconnects == 1)


async def test_dropped_socket_reconnects(fake: FakeSlack, slack: SlackAdapter) -> None:
    old = fake.live_connections[-1]
    fake.drop_connections()
    new = await fake.wait_connected(newer_than=old.id)
    assert new.id > old.id
    assert await answered(fake, "after drop") == "/quote after drop"
    await fake.wait_for(lambda: slack.connected)


async def test_closed_socket_reconnects(fake: FakeSlack, slack: SlackAdapter) -> None:
    old = fake.live_connections[-1]
    await fake.close_connections()
    await fake.wait_connected(newer_than=old.id)
    assert await answered(fake, "after close") == "/quote after close"


async def test_repeated_interruptions(fake: FakeSlack, slack: SlackAdapter) -> None:
    for i in range(4):
        old = fake.live_connections[-1] if fake.live_connections else await fake.wait_connected()
        if i % 2:
            fake.drop_connections()
        else:
            await fake.send_disconnect("refresh_requested")
        await fake.wait_connected(newer_than=old.id)
        assert await answered(fake, f"round {i}") == f"/quote round {i}"
    assert len(fake.live_connections) == 1


async def test_recovers_after_an_outage_longer_than_a_ticket_lives(
    fake: FakeSlack, slack: SlackAdapter
) -> None:
    old = fake.live_connections[-1]
    fake.ws_outage = True
    fake.drop_connections()
    # while Slack's websocket endpoint is down, commands fail for the user as they would in Slack
    await fake.wait_for(lambda: len(fake.socket_refusals) >= 5)
    result = await fake.slash_command("/quote", "during outage")
    assert result.user_error == "dispatch_failed"
    fake.ws_outage = False
    await fake.wait_connected(newer_than=old.id)
    # the URL tried during the outage was spent: the bot asked apps.connections.open for a fresh one
    assert len(fake.calls_to("apps.connections.open")) >= 3
    assert await answered(fake, "after outage") == "/quote after outage"


async def test_envelopes_for_other_types_do_not_break_the_connection(
    fake: FakeSlack, slack: SlackAdapter
) -> None:
    event = {
        "type": "event_callback",
        "team_id": fake.team_id,
        "api_app_id": fake.app_id,
        "event": {"type": "app_home_opened", "user": "U0USER0001", "channel": "D0DM000001", "tab": "home"},
        "event_id": "Ev0001",
        "event_time": 1700000000,
    }
    ack = await fake.send_envelope("events_api", event)
    assert ack.acked  # acknowledged, so Slack does not redeliver it
    assert await answered(fake, "still here") == "/quote still here"

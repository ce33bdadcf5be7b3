"""Slack HTTP mode: ``POST /slack/events`` on the bot's own aiohttp server, signatures checked by bolt.

The fake Slack posts slash commands the way Slack does (form-encoded, v0 HMAC signature); a bad
or stale signature gets 401 and the handler never runs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any, Literal

import pytest

from bot.chat.slack_app import SlackAdapter
from bot.domain.models import CommandContext, Reply
from bot.ports import CommandName
from bot.web import WebServer
from tests.fakes.slack import FakeSlack


class Commands:
    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.calls: list[tuple[CommandName, str]] = []

    async def handle(self, ctx: CommandContext, command: CommandName, text: str) -> Reply:
        self.calls.append((command, text))
        await asyncio.sleep(self.delay)  # noqa: TID251 - a slow handler is the behaviour under test
        return Reply(text=f"{command}: {text}", private=command == "watch")

    async def complete(
        self, ctx: CommandContext, kind: Literal["watchlist", "ticker"], prefix: str
    ) -> list[str]:
        return []


async def _health() -> dict[str, Any]:
    return {"status": "ok"}


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as server:
        yield server


@pytest.fixture
def commands(request: pytest.FixtureRequest) -> Commands:
    return Commands(delay=getattr(request, "param", 0.0))


@pytest.fixture
async def events_url(fake: FakeSlack, commands: Commands) -> AsyncIterator[str]:
    adapter = SlackAdapter(
        bot_token=fake.bot_token, signing_secret=fake.signing_secret, api_url=fake.api_url, commands=commands
    )
    async with adapter:
        assert adapter.mode == "http" and adapter.connected
        web = WebServer(host="127.0.0.1", port=0, health=_health, metrics=dict, routes=adapter.web_routes())
        port = await web.start()
        try:
            yield f"http://127.0.0.1:{port}/slack/events"
        finally:
            await web.aclose()
    assert fake.calls_to("apps.connections.open") == []  # no websocket in HTTP mode


async def test_signed_command_is_acked_and_answered(
    fake: FakeSlack, events_url: str, commands: Commands
) -> None:
    result = await fake.slash_command("/quote", "AMZN & MSFT", request_url=events_url)
    assert result.http_status == 200 and result.user_error is None
    [answer] = await result.wait_responses(1)
    assert answer.response_type == "in_channel" and answer.visible == "quote: AMZN & MSFT"
    assert commands.calls == [("quote", "AMZN & MSFT")]
    private = await fake.slash_command("/watch", "help", request_url=events_url)
    [help_] = await private.wait_responses(1)
    assert help_.ephemeral


@pytest.mark.parametrize("commands", [4.0], indirect=True)
async def test_slow_handler_still_acks_in_time(fake: FakeSlack, events_url: str, commands: Commands) -> None:
    result = await fake.slash_command("/news", "AMZN", request_url=events_url)
    assert result.user_error is None and result.http_status == 200
    [answer] = await result.wait_responses(1)
    assert answer.visible == "news: AMZN"


@pytest.mark.parametrize(
    "tamper",
    [
        {"signing_secret": "not-the-secret"},
        {"signature": "v0=" + "0" * 64},
        {"signature": "garbage"},
        {"timestamp": int(time.time()) - 600},  # replayed: older than 5 minutes
    ],
)
async def test_badly_signed_requests_get_401_and_run_nothing(
    fake: FakeSlack, events_url: str, commands: Commands, tamper: dict[str, Any]
) -> None:
    result = await fake.slash_command("/watch", "delete everything", request_url=events_url, **tamper)
    assert result.http_status == 401
    assert result.user_error == "dispatch_failed"
    # a signed command afterwards: by the time it has run, the rejected one would have run too
    signed = await fake.slash_command("/news", "AMZN", request_url=events_url)
    await signed.wait_responses(1)
    assert commands.calls == [("news", "AMZN")]
    assert result.responses == []


async def test_unsigned_request_gets_401(fake: FakeSlack, events_url: str, commands: Commands) -> None:
    assert fake.http_session is not None
    async with fake.http_session.post(events_url, data={"command": "/watch", "text": "x"}) as resp:
        assert resp.status == 401
    assert commands.calls == []

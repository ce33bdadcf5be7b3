"""The shipped app manifest grants exactly what the adapter uses: every feature works with its scopes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Literal

import yaml

from bot.chat.slack_app import COMMANDS, SlackAdapter
from bot.domain.models import Alert, Attachment, ChannelRef, CommandContext, Reply
from bot.ports import CommandName
from tests.fakes.slack import FakeSlack

MANIFEST = Path(__file__).resolve().parents[2] / "config" / "slack-app-manifest.yaml"


def manifest() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    return data


class ChartCommands:
    async def handle(self, ctx: CommandContext, command: CommandName, text: str) -> Reply:
        if command == "quote":
            return Reply(title="AMZN", attachments=(Attachment("AMZN.png", b"\x89PNG-data", title="AMZN"),))
        return Reply(text=f"ok {text} admin={ctx.is_admin}")

    async def complete(
        self, ctx: CommandContext, kind: Literal["watchlist", "ticker"], prefix: str
    ) -> list[str]:
        return []


def test_manifest_declares_the_commands_and_socket_mode_without_extras() -> None:
    data = manifest()
    commands = [c["command"] for c in data["features"]["slash_commands"]]
    assert commands == [f"/{c}" for c in COMMANDS]
    assert all(c["usage_hint"] and c["description"] for c in data["features"]["slash_commands"])
    assert all(len(c["description"]) <= 100 for c in data["features"]["slash_commands"])
    assert data["settings"]["socket_mode_enabled"] is True
    assert "event_subscriptions" not in data["settings"]
    scopes = data["oauth_config"]["scopes"]["bot"]
    assert "chat:write.public" not in scopes  # the bot posts only where it was invited
    assert "user" not in data["oauth_config"]["scopes"]


async def test_every_feature_works_with_exactly_the_manifest_scopes() -> None:
    scopes = manifest()["oauth_config"]["scopes"]["bot"]
    async with FakeSlack(bot_scopes=scopes) as fake:
        fake.add_user("U0ADMIN001", "ada", is_admin=True)
        fake.add_channel("G0PRIVATE1", "private-desk", private=True)
        adapter = SlackAdapter(
            bot_token=fake.bot_token,
            app_token=fake.app_token,
            api_url=fake.api_url,
            commands=ChartCommands(),
            ping_interval=1.0,  # aiohttp wants each pong within half of it: 0.5 s, not 0.1 s
        )
        async with adapter:
            ref = await adapter.send(
                Alert(
                    key="k", kind="story", channel=ChannelRef("slack", "C0GENERAL1"), watchlist="w", title="T"
                ),
                target=ChannelRef("slack", "C0GENERAL1"),
            )
            await adapter.edit(ref, Reply(text="edited"))
            await adapter.send(Reply(text="in private"), target=ChannelRef("slack", "G0PRIVATE1"))
            results = await asyncio.gather(
                fake.slash_command("/watch", "subscribe w", channel="C0GENERAL1", user="U0ADMIN001"),
                fake.slash_command("/watch", "subscribe w", channel="G0PRIVATE1"),
                fake.slash_command("/quote", "AMZN", channel="C0GENERAL1"),
                fake.slash_command("/news", "AMZN"),
                fake.slash_command("/feed", "list", channel="C0GENERAL1", user="U0ADMIN001"),
            )
            for result in results:
                assert result.user_error is None
                await result.wait_responses(1)
            await fake.wait_for(lambda: any(m.via == "file_share" for m in fake.messages("C0GENERAL1")))
        used = {c.method for c in fake.calls}
        assert {
            "auth.test",
            "chat.postMessage",
            "chat.update",
            "users.info",
            "conversations.info",
            "files.getUploadURLExternal",
            "files.completeUploadExternal",
            "apps.connections.open",
        } <= used
        assert [c for c in fake.calls if not c.ok] == []
        assert "admin=True" in results[0].responses[0].visible

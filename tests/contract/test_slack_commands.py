"""Slash commands through Socket Mode with the real slack_bolt: acks in time, answers where they belong.

The command handler here is a real implementation of ``bot.ports.CommandHandler`` that takes its
time like the shared handlers can (quotes, charts); the fake Slack reports what the user saw.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Literal

import pytest

from bot.chat.slack_app import SlackAdapter
from bot.domain.models import Attachment, CommandContext, Quote, Reply, ReplyItem, TradingSession
from bot.ports import CommandName
from tests.fakes.slack import FakeSlack, validate_blocks

PNG = b"\x89PNG\r\n\x1a\n" + b"chart" * 100
GENERAL = "C0GENERAL1"


class SlowCommands:
    """Answers /quote, /news and /watch after ``delay`` seconds, recording who asked what."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.calls: list[tuple[CommandContext, CommandName, str]] = []

    async def handle(self, ctx: CommandContext, command: CommandName, text: str) -> Reply:
        self.calls.append((ctx, command, text))
        await asyncio.sleep(self.delay)  # noqa: TID251 - a slow handler is the behaviour under test
        words = text.split()
        if command == "quote":
            symbol = (words or ["?"])[0].upper()
            return Reply(
                title=f"{symbol} quote",
                quotes=(Quote(symbol, 185.2, 182.9, 2.3, 1.26, TradingSession.PRE, None, name="Amazon.com"),),
                items=(ReplyItem("Amazon expands cloud", "https://news.example/1", "Reuters · 5 min ago"),),
                attachments=(Attachment(f"{symbol}.png", PNG, title=f"{symbol} today"),),
            )
        if command == "news":
            return Reply(title="News", items=(ReplyItem(f"Story about {text}", "https://news.example/2"),))
        if not words or words[0] == "help":
            return Reply(text="Usage: /watch subscribe NAME", private=True)
        if words[0] == "subscribe":
            return Reply(text=f"This channel now gets alerts for {words[1]}.")
        if words[0] == "echo":
            return Reply(text=text, private=True)
        if words[0] == "boom":
            raise RuntimeError("kaboom: internal detail")
        return Reply(text=f"Unknown subcommand {words[0]}", private=True, error=True)

    async def complete(
        self, ctx: CommandContext, kind: Literal["watchlist", "ticker"], prefix: str
    ) -> list[str]:
        return []


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as server:
        server.add_user("U0USER0001", "ann")
        server.add_user("U0ADMIN001", "ada", is_admin=True)
        server.add_user("U0OWNER001", "olly", is_owner=True)
        server.add_user("U0CONFIG01", "cfg")
        yield server


async def start(fake: FakeSlack, commands: SlowCommands | None, **kw: object) -> SlackAdapter:
    adapter = SlackAdapter(
        bot_token=fake.bot_token,
        app_token=fake.app_token,
        api_url=fake.api_url,
        commands=commands,
        admins=["slack:U0CONFIG01"],
        ping_interval=1.0,  # aiohttp wants each pong within half of it: 0.5 s, not 0.1 s
        **kw,  # type: ignore[arg-type]
    )
    await adapter.start()
    return adapter


@pytest.fixture
async def commands() -> SlowCommands:
    return SlowCommands()


@pytest.fixture
async def slack(fake: FakeSlack, commands: SlowCommands) -> AsyncIterator[SlackAdapter]:
    adapter = await start(fake, commands)
    try:
        yield adapter
    finally:
        await adapter.aclose()


async def test_ack_comes_before_a_slow_handler_finishes(fake: FakeSlack) -> None:
    commands = SlowCommands(delay=fake.ack_deadline + 1.0)  # slower than Slack's 3 s deadline
    adapter = await start(fake, commands)
    try:
        result = await fake.slash_command("/quote", "AMZN", user="U0USER0001")
        assert result.user_error is None  # the user saw no "operation_timeout"
        assert result.ack_seconds is not None
        assert result.responses == []  # the answer comes later, through response_url
        [answer] = await result.wait_responses(1)
    finally:
        await adapter.aclose()
    assert answer.response_type == "in_channel"
    assert validate_blocks(answer.blocks) == []
    assert "*AMZN* Amazon.com  $185.20\n▲ +1.26% · pre-market" in answer.visible
    # the chart went to the channel with files_upload_v2
    shared = [m for m in fake.messages(GENERAL) if m.via == "file_share"]
    assert [(f["name"], f["data"]) for f in shared[0].files] == [("AMZN.png", PNG)]


async def test_private_replies_are_ephemeral_and_others_in_channel(
    fake: FakeSlack, slack: SlackAdapter
) -> None:
    help_ = await fake.slash_command("/watch", "help", user="U0USER0001")
    news = await fake.slash_command("/news", "AMZN", user="U0USER0001")
    [private] = await help_.wait_responses(1)
    [public] = await news.wait_responses(1)
    assert private.ephemeral and private.visible == "Usage: /watch subscribe NAME"
    assert public.response_type == "in_channel"
    assert public.view().links == (("https://news.example/2", "Story about AMZN"),)
    # what others in the channel see: the /news answer only
    assert [m.visible for m in fake.messages(GENERAL)] == [public.visible]
    assert [m.visible for m in fake.ephemerals[(GENERAL, "U0USER0001")]] == [private.visible]


async def test_context_names_workspace_channel_user_and_admin_rights(
    fake: FakeSlack, slack: SlackAdapter, commands: SlowCommands
) -> None:
    for user in ("U0USER0001", "U0ADMIN001", "U0OWNER001", "U0CONFIG01", "U0USER0001"):
        result = await fake.slash_command("/watch", "list", user=user)
        await result.wait_responses(1)
    contexts = [ctx for ctx, _, _ in commands.calls]
    assert [(c.user, c.is_admin, c.can_manage) for c in contexts] == [
        ("U0USER0001", False, False),
        ("U0ADMIN001", True, True),
        ("U0OWNER001", True, True),
        ("U0CONFIG01", True, True),
        ("U0USER0001", False, False),
    ]
    first = contexts[0]
    assert first.platform == "slack"
    assert first.workspace == "T0FAKE0001" and first.scope == "slack:T0FAKE0001"
    assert str(first.channel) == "slack:C0GENERAL1" and first.channel.workspace == "T0FAKE0001"
    assert first.user_name == "ann"
    # users.info once per user (cached), never for config admins
    looked_up = [c.params["user"] for c in fake.calls_to("users.info")]
    assert sorted(looked_up) == ["U0ADMIN001", "U0OWNER001", "U0USER0001"]


async def test_handler_gets_the_text_the_user_typed(
    fake: FakeSlack, slack: SlackAdapter, commands: SlowCommands
) -> None:
    typed = "echo 'a & b' <tag> \"quoted\" ünï"
    result = await fake.slash_command("/watch", typed, user="U0USER0001")
    [answer] = await result.wait_responses(1)
    assert commands.calls[-1][2] == typed
    assert answer.visible == typed


async def test_a_crashing_handler_answers_privately_without_details(
    fake: FakeSlack, slack: SlackAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    result = await fake.slash_command("/watch", "boom", user="U0USER0001")
    [answer] = await result.wait_responses(1)
    assert answer.ephemeral
    assert "Something went wrong running /watch" in answer.visible
    assert "kaboom" not in answer.visible and "Traceback" not in answer.visible
    assert "kaboom" in caplog.text  # logged once for the admin


async def test_subscribe_where_the_bot_cannot_post_says_to_invite_it(
    fake: FakeSlack, slack: SlackAdapter
) -> None:
    fake.add_channel("C0NOBOT001", "no-bot", member=False)
    fake.add_channel("G0SECRET01", "secret", private=True, member=False)
    fine = await fake.slash_command("/watch", "subscribe cloud-china", channel=GENERAL)
    public = await fake.slash_command("/watch", "subscribe cloud-china", channel="C0NOBOT001")
    private = await fake.slash_command("/watch", "subscribe cloud-china", channel="G0SECRET01")
    [ok] = await fine.wait_responses(1)
    [warn_public] = await public.wait_responses(1)
    [warn_private] = await private.wait_responses(1)
    assert ok.visible == "This channel now gets alerts for cloud-china."
    assert "Invite me with /invite @marketbot" in warn_public.visible
    assert "not a member" in warn_public.visible
    assert "cannot see this private channel" in warn_private.visible


async def test_chart_in_a_channel_without_the_bot_explains_the_fix(
    fake: FakeSlack, slack: SlackAdapter
) -> None:
    fake.add_channel("C0NOBOT001", "no-bot", member=False)
    result = await fake.slash_command("/quote", "AMZN", channel="C0NOBOT001")
    answer, note = await result.wait_responses(2)
    assert answer.response_type == "in_channel" and "AMZN quote" in answer.visible
    assert note.ephemeral and "invite me with /invite @marketbot" in note.visible
    assert not [m for m in fake.messages("C0NOBOT001") if m.via == "file_share"]


async def test_commands_before_a_handler_is_bound_answer_politely(fake: FakeSlack) -> None:
    adapter = await start(fake, None)
    try:
        result = await fake.slash_command("/quote", "AMZN")
        [answer] = await result.wait_responses(1)
        assert answer.ephemeral and "starting up" in answer.visible
        later = SlowCommands()
        adapter.bind_commands(later)
        result = await fake.slash_command("/news", "AMZN")
        await result.wait_responses(1)
        assert [c for _, c, _ in later.calls] == ["news"]
    finally:
        await adapter.aclose()


async def test_a_handler_that_hangs_is_cut_off_with_a_message(fake: FakeSlack) -> None:
    adapter = await start(fake, SlowCommands(delay=30), command_timeout=0.5)
    try:
        result = await fake.slash_command("/news", "AMZN")
        [answer] = await result.wait_responses(1)
    finally:
        await adapter.aclose()
    assert result.user_error is None
    assert answer.ephemeral and "took too long" in answer.visible


async def test_aclose_waits_briefly_for_running_commands_then_cancels(fake: FakeSlack) -> None:
    adapter = await start(fake, SlowCommands(delay=30), shutdown_grace=0.2)
    result = await fake.slash_command("/news", "AMZN")
    assert result.user_error is None
    await adapter.aclose()
    assert result.responses == []
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("slack-")]

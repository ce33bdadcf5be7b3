"""Contract suite for the ChatAdapter port: what every chat platform we ship promises.

``bot/ports.py`` says: ``send`` returns a MessageRef in the target channel (a thread reply
carries its thread), ``edit`` changes a sent message in place, ``status()`` is JSON-ready with
``connected``, ``channel_rate`` is (messages, seconds), and a failure is a ``DeliveryError``
that says whether retrying can help; an ``AuthProbe`` pauses on refused credentials and
recovers when the platform accepts them again. The suite runs against the in-memory twin, the console
(JSON lines to a buffer), and the Slack and Discord adapters through the real slack_sdk and
discord.py against their loopback fakes. What a reader sees is read back from each platform
(the fake's channel, the console's lines), never from the adapter's own bookkeeping.
"""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

import pytest

from bot.chat.console import ConsoleChat
from bot.chat.discord_bot import DiscordAdapter
from bot.chat.memory import MemoryChat
from bot.chat.slack_app import SlackAdapter
from bot.domain.errors import CredentialsRejected, DeliveryError
from bot.domain.models import ChannelRef, MessageRef, Reply
from bot.domain.timeutil import ManualClock
from bot.ports import AuthProbe, ChatAdapter
from tests.fakes.discord import DiscordFake
from tests.fakes.slack import FakeSlack
from tests.support.factories import news_alert
from tests.support.wait import wait_until

NOW = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)
SLACK_CHANNEL = "C0ALERTS01"


@dataclass
class Platform:
    """One adapter under test and how to look at (and break) the platform behind it."""

    adapter: ChatAdapter
    target: ChannelRef
    shown: Callable[[MessageRef], str]  # everything a reader sees of that message now, as text
    break_channel: Callable[[], None] | None = None  # the target channel goes away for good
    outage: Callable[[], None] | None = None  # the platform fails the next send, temporarily
    revoke: Callable[[], None] | None = None  # the platform stops accepting the bot's token
    restore: Callable[[], None] | None = None  # ... and accepts it again


alert = partial(news_alert, now=NOW, clean=True)


def _memory() -> Platform:
    chat = MemoryChat("memory", channel_rate=(1, 1.0))
    target = ChannelRef("memory", "alerts")

    def shown(ref: MessageRef) -> str:
        [sent] = [m for m in chat.in_channel(ref.channel.channel) if m.ref.id == ref.id]
        return f"{sent.message.title}\n{sent.message.text if isinstance(sent.message, Reply) else ''}"

    def gone() -> None:
        chat.break_channel(
            target.channel,
            DeliveryError("channel alerts was deleted", retryable=False, code="channel_not_found"),
        )

    def outage() -> None:
        chat.fail_next(DeliveryError("the platform answered HTTP 503", retryable=True, code="http_503"))

    def revoke() -> None:
        chat.reject_credentials(
            CredentialsRejected(
                "the token was revoked", platform="memory", setting="MEMORY_TOKEN", code="revoked"
            )
        )

    return Platform(chat, target, shown, gone, outage, revoke, lambda: chat.reject_credentials(None))


def _console() -> Platform:
    out = io.StringIO()
    chat = ConsoleChat(json_mode=True, stream=out, clock=ManualClock(NOW))

    def shown(ref: MessageRef) -> str:
        # the console numbers its messages 1, 2, ... in the order it prints them; an edit is a
        # later line naming the message it replaces
        current: dict[str, dict[str, object]] = {}
        sends = 0
        for line in out.getvalue().splitlines():
            obj = json.loads(line)
            if "edit_of" in obj:
                current[str(obj["edit_of"])] = obj
            else:
                sends += 1
                current[str(sends)] = obj
        obj = current[ref.id]
        return f"{obj['title']}\n{obj.get('text') or ''}"

    return Platform(chat, ChannelRef("console", "console"), shown)


async def _slack(stack: AsyncExitStack) -> Platform:
    fake = await stack.enter_async_context(FakeSlack())
    fake.add_channel(SLACK_CHANNEL, "alerts")
    adapter = SlackAdapter(
        bot_token=fake.bot_token,
        app_token=fake.app_token,
        api_url=fake.api_url,
        clock=ManualClock(NOW),
        ping_interval=1.0,
    )
    await stack.enter_async_context(adapter)

    def shown(ref: MessageRef) -> str:
        [msg] = [m for m in fake.messages(ref.channel.channel) if m.ts == ref.id]
        return msg.visible

    return Platform(
        adapter,
        ChannelRef("slack", SLACK_CHANNEL),
        shown,
        lambda: fake.remove_channel(SLACK_CHANNEL),
        lambda: fake.fail_next("chat.postMessage", status=503),
        fake.revoke_bot_token,
        fake.restore_bot_token,
    )


async def _discord(stack: AsyncExitStack) -> Platform:
    fake = await stack.enter_async_context(DiscordFake())
    world = fake.world()
    adapter = await stack.enter_async_context(
        DiscordAdapter(token=fake.token, api_url=fake.api_url, gateway_url=fake.gateway_url)
    )

    def shown(ref: MessageRef) -> str:
        where = int(ref.thread_id or ref.channel.channel)  # a thread's id is its parent message's
        [msg] = [m for m in fake.messages(where) if str(m.id) == ref.id]
        parts = [msg.content] + [f"{e.get('title', '')}\n{e.get('description', '')}" for e in msg.embeds]
        return "\n".join(parts)

    return Platform(
        adapter,
        ChannelRef("discord", str(world.channel.id), workspace=str(world.guild.id)),
        shown,
        world.channel.delete,
        lambda: fake.fail("POST /channels/{channel_id}/messages", status=503, times=1),
        fake.revoke_token,
        fake.restore_token,
    )


EVERY = ["memory", "console", "slack", "discord"]
CAN_FAIL = ["memory", "slack", "discord"]  # the console is this process's own output: it cannot
# (every adapter that can fail also has credentials a platform can refuse: all are AuthProbes)


async def _platform(name: str, stack: AsyncExitStack) -> Platform:
    if name == "memory":
        return _memory()
    if name == "console":
        return _console()
    if name == "slack":
        return await _slack(stack)
    return await _discord(stack)


@pytest.fixture(params=EVERY)
async def chat(request: pytest.FixtureRequest) -> AsyncIterator[Platform]:
    async with AsyncExitStack() as stack:
        yield await _platform(str(request.param), stack)


@pytest.fixture(params=CAN_FAIL)
async def failing_chat(request: pytest.FixtureRequest) -> AsyncIterator[Platform]:
    async with AsyncExitStack() as stack:
        yield await _platform(str(request.param), stack)


# ---------------------------------------------------------------- the promises


async def test_is_a_chat_adapter(chat: Platform) -> None:
    a = chat.adapter
    assert isinstance(a, ChatAdapter)
    assert isinstance(a.platform, str) and a.platform
    messages, seconds = a.channel_rate
    assert isinstance(messages, int) and messages >= 1
    assert isinstance(seconds, float) and seconds > 0


async def test_status_is_json_ready_and_says_connected(chat: Platform) -> None:
    st = chat.adapter.status()
    assert json.loads(json.dumps(st)) == st
    assert st["connected"] is True


async def test_send_lands_in_the_target_channel(chat: Platform) -> None:
    ref = await chat.adapter.send(alert(chat.target), target=chat.target)
    assert isinstance(ref, MessageRef)
    assert ref.channel == chat.target and ref.id and ref.thread_id is None
    assert "Amazon wins cloud deal in China" in chat.shown(ref)
    reply = await chat.adapter.send(Reply(title="AMZN", text="Amazon.com, Inc."), target=chat.target)
    assert reply.channel == chat.target and reply.id != ref.id
    assert "Amazon.com, Inc." in chat.shown(reply)


async def test_thread_replies_carry_the_thread(chat: Platform) -> None:
    parent = await chat.adapter.send(alert(chat.target), target=chat.target)
    follow = alert(chat.target, title="Amazon confirms the China deal", key="story:s1:sub:1:update")
    ref = await chat.adapter.send(follow, target=chat.target, thread=parent)
    assert ref.channel == chat.target and ref.id != parent.id
    assert ref.thread_id == parent.id
    assert "Amazon confirms the China deal" in chat.shown(ref)
    assert "Amazon wins cloud deal in China" in chat.shown(parent)


async def test_edit_changes_the_sent_message_in_place(chat: Platform) -> None:
    ref = await chat.adapter.send(alert(chat.target), target=chat.target)
    await chat.adapter.edit(ref, alert(chat.target, title="Amazon wins $2bn cloud deal in China"))
    assert "Amazon wins $2bn cloud deal in China" in chat.shown(ref)


async def test_a_channel_gone_is_a_permanent_delivery_error(failing_chat: Platform) -> None:
    assert failing_chat.break_channel is not None
    failing_chat.break_channel()
    with pytest.raises(DeliveryError) as caught:
        await failing_chat.adapter.send(alert(failing_chat.target), target=failing_chat.target)
    assert caught.value.retryable is False and str(caught.value)


async def test_an_outage_is_a_retryable_delivery_error(failing_chat: Platform) -> None:
    assert failing_chat.outage is not None
    failing_chat.outage()
    with pytest.raises(DeliveryError) as caught:
        await failing_chat.adapter.send(alert(failing_chat.target), target=failing_chat.target)
    assert caught.value.retryable is True and str(caught.value)
    ref = await failing_chat.adapter.send(alert(failing_chat.target), target=failing_chat.target)
    assert "Amazon wins cloud deal in China" in failing_chat.shown(ref)  # the next attempt lands


async def test_refused_credentials_pause_the_whole_platform_until_accepted(failing_chat: Platform) -> None:
    """An AuthProbe: a revoked token fails sends with CredentialsRejected (permanent for the send,
    naming the setting to fix), ``check_auth`` says so too, and once the platform accepts the
    token again ``check_auth`` passes, ``auth_problem`` clears, the adapter reconnects and sends
    land."""
    a, target = failing_chat.adapter, failing_chat.target
    assert isinstance(a, AuthProbe)
    assert failing_chat.revoke is not None and failing_chat.restore is not None
    await a.check_auth()
    assert a.auth_problem is None
    failing_chat.revoke()
    with pytest.raises(CredentialsRejected) as caught:
        await a.send(alert(target), target=target)
    assert caught.value.retryable is False and caught.value.platform == a.platform and caught.value.setting
    with pytest.raises(CredentialsRejected):
        await a.check_auth()
    assert isinstance(a.auth_problem, CredentialsRejected)
    failing_chat.restore()
    await a.check_auth()
    assert a.auth_problem is None
    await wait_until(lambda: a.status()["connected"], what=f"{a.platform} to say it is connected again")
    ref = await a.send(alert(target), target=target)
    assert "Amazon wins cloud deal in China" in failing_chat.shown(ref)

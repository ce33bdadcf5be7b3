"""The command runner: what a user sees when a handler is quick, slow, late, refuses or crashes,
and that nothing it started outlives ``shutdown``.

The handler is a small ``CommandHandler`` (a port implementation, not a mock of our code) whose
answers the test controls with events; the platform is played by the acknowledge and answer
callbacks an adapter would pass.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import pytest

from bot.commands import messages as msg
from bot.commands.runner import CommandRunner, TaskSet, rich_then_plain
from bot.domain.errors import CommandError, DeliveryError
from bot.domain.models import ChannelRef, CommandContext, Reply
from bot.ports import CommandName, CompleteKind
from tests.support.wait import wait_until

CTX = CommandContext(platform="test", channel=ChannelRef("test", "C1"), user="U1")


async def context() -> CommandContext:
    return CTX


class Gated:
    """Answers ``ok <text>`` once ``gate`` is set; ``boom`` raises, ``refuse`` raises a CommandError."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.started = asyncio.Event()
        self.cancelled = False

    async def handle(self, ctx: CommandContext, command: CommandName, text: str) -> Reply:
        self.started.set()
        if text == "boom":
            raise RuntimeError("kaboom")
        if text == "refuse":
            raise CommandError("not like that: try /watch help")
        try:
            await self.gate.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        return Reply(text=f"ok {text}")

    async def complete(self, ctx: CommandContext, kind: CompleteKind, prefix: str) -> list[str]:
        return []


@dataclass
class Platform:
    """Records what the runner asked the platform to do, in order."""

    events: list[str] = field(default_factory=list)
    replies: list[tuple[Reply, bool]] = field(default_factory=list)
    can_acknowledge: bool = True

    async def acknowledge(self, private: bool) -> bool:
        self.events.append(f"ack private={private}")
        return self.can_acknowledge

    async def answer(self, reply: Reply, acknowledged: bool) -> None:
        self.events.append("answer")
        self.replies.append((reply, acknowledged))


def runner(handler: Gated | None, *, defer_after: float | None, timeout: float = 60.0) -> CommandRunner:
    return CommandRunner(
        platform="Test",
        handler=lambda: handler,
        command_timeout=timeout,
        shutdown_grace=60.0,
        defer_after=defer_after,
    )


async def test_a_quick_command_is_answered_in_place_without_a_defer() -> None:
    handler, platform = Gated(), Platform()
    handler.gate.set()
    await runner(handler, defer_after=60.0).dispatch(
        "quote", "AMZN", context=context, acknowledge=platform.acknowledge, answer=platform.answer
    )
    assert platform.events == ["answer"]
    assert platform.replies[0][0].text == "ok AMZN" and platform.replies[0][1] is False


async def test_a_slow_command_is_deferred_at_once_then_answered() -> None:
    handler, platform = Gated(), Platform()
    run = runner(handler, defer_after=60.0)
    task = asyncio.create_task(
        run.dispatch(
            "watch",
            "help",
            context=context,
            acknowledge=platform.acknowledge,
            answer=platform.answer,
            slow=True,
            private=True,
        )
    )
    await wait_until(lambda: platform.events, what="the defer")
    assert platform.events == ["ack private=True"]
    handler.gate.set()
    await task
    assert platform.events == ["ack private=True", "answer"]
    assert platform.replies[0][1] is True


async def test_ack_first_platforms_acknowledge_before_the_handler_runs() -> None:
    handler, platform = Gated(), Platform()
    run = runner(handler, defer_after=None)
    await run.dispatch(
        "news", "TSLA", context=context, acknowledge=platform.acknowledge, answer=platform.answer
    )
    assert platform.events == ["ack private=False"]  # dispatch returned: the work goes on in a task
    handler.gate.set()
    await wait_until(lambda: platform.replies, what="the answer")
    assert platform.replies[0] == (Reply(text="ok TSLA"), True)


async def test_when_the_acknowledgement_fails_the_work_still_finishes_but_nothing_is_answered() -> None:
    handler, platform = Gated(), Platform(can_acknowledge=False)
    handler.gate.set()
    await runner(handler, defer_after=60.0).dispatch(
        "quote", "AMZN", context=context, acknowledge=platform.acknowledge, answer=platform.answer, slow=True
    )
    assert platform.events == ["ack private=False"] and handler.started.is_set()


@pytest.mark.parametrize(
    ("handler", "text", "expected"),
    [
        (None, "AMZN", msg.STARTING),
        (Gated(), "boom", msg.failed("quote")),
        (Gated(), "refuse", "not like that: try /watch help"),
    ],
    ids=["not-bound-yet", "crash", "refusal"],
)
async def test_failures_become_private_error_replies(
    handler: Gated | None, text: str, expected: str, caplog: pytest.LogCaptureFixture
) -> None:
    reply = await runner(handler, defer_after=60.0).reply("quote", text, context)
    assert reply == Reply(text=expected, private=True, error=True)
    if text == "boom":
        logged = [r for r in caplog.records if r.exc_info and "kaboom" in str(r.exc_info[1])]
        assert len(logged) == 1  # logged once, with the traceback, for the admin


async def test_a_handler_past_its_deadline_answers_that_it_took_too_long() -> None:
    handler = Gated()  # the gate never opens: the other side never answers
    reply = await runner(handler, defer_after=60.0, timeout=0.05).reply("watch", "test x", context)
    assert reply == Reply(text=msg.took_too_long("watch"), private=True, error=True)
    assert handler.cancelled


async def test_shutdown_lets_running_commands_finish_then_takes_no_more() -> None:
    handler, platform = Gated(), Platform()
    run = runner(handler, defer_after=None)
    await run.dispatch(
        "quote", "AMZN", context=context, acknowledge=platform.acknowledge, answer=platform.answer
    )
    await wait_until(handler.started.is_set, what="the handler running")
    closing = asyncio.create_task(run.shutdown())
    await wait_until(lambda: run.closed, what="the runner closing")
    handler.gate.set()
    await closing
    assert platform.replies == [(Reply(text="ok AMZN"), True)]
    assert len(run.tasks) == 0
    await run.dispatch(
        "quote", "MSFT", context=context, acknowledge=platform.acknowledge, answer=platform.answer
    )
    assert len(run.tasks) == 0 and len(platform.replies) == 1


async def test_shutdown_cancels_what_outlives_the_grace_period() -> None:
    tasks = TaskSet()
    never = asyncio.Event()
    task = tasks.spawn(never.wait(), "stuck")
    await tasks.drain(0.01)
    assert task.cancelled() and len(tasks) == 0


async def test_rich_then_plain_sends_text_once_when_the_rich_form_is_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sent: list[str] = []

    async def send(message: str) -> str:
        sent.append(message)
        if message.startswith("rich"):
            raise DeliveryError("invalid blocks", retryable=False, code="invalid_blocks")
        return f"posted {message}"

    def refused(exc: Exception) -> bool:
        return isinstance(exc, DeliveryError) and exc.code == "invalid_blocks"

    caplog.set_level(logging.WARNING)
    out = await rich_then_plain(
        "rich hello", send=send, plain=lambda m: m.replace("rich", "plain"), refused=refused, what="t"
    )
    assert out == "posted plain hello" and sent == ["rich hello", "plain hello"]
    assert "sending it as text" in caplog.text


async def test_rich_then_plain_lets_other_failures_through_untouched() -> None:
    calls = 0

    async def send(message: str) -> str:
        nonlocal calls
        calls += 1
        raise DeliveryError("channel not found", retryable=False, code="channel_not_found")

    with pytest.raises(DeliveryError, match="channel not found"):
        await rich_then_plain("rich", send=send, plain=str.upper, refused=lambda e: False, what="t")
    assert calls == 1

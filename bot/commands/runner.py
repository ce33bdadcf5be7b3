"""What every chat adapter does around a slash command, once for all platforms.

``CommandRunner`` owns the policy; adapters only translate (payload in, ``Reply`` out):

- acknowledge in time: Slack's acknowledgement carries no content, so it is sent at once and
  the work runs in a tracked task (``defer_after=None``); Discord answers in place when the
  handler is quick and defers ("thinking…") when the command is slow or ``defer_after`` passes;
- a deadline on every command, and the user-facing answers to a timeout, a ``BotError`` or a
  crash (logged once here, for the bot's admin);
- the tasks of running commands, which ``shutdown`` lets finish for a grace period and then
  cancels, so nothing outlives the adapter.

``rich_then_plain`` is the one "the platform refused the rich form (blocks, embeds) → send the
same content as plain text once" fallback for answers, posts and edits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

from bot.commands import messages as msg
from bot.domain.errors import BotError
from bot.domain.models import CommandContext, Reply
from bot.ports import CommandHandler, CommandName

log = logging.getLogger(__name__)

T = TypeVar("T")
M = TypeVar("M")

# (reply's privacy guess) -> acknowledged; False when the platform refused (the adapter logs why)
Acknowledge = Callable[[bool], Awaitable[bool]]
# (reply, acknowledged before) -> None: show the reply to the user
Answer = Callable[[Reply, bool], Awaitable[None]]
ContextFactory = Callable[[], Awaitable[CommandContext]]


class TaskSet:
    """Tasks an adapter started and must not leave running: spawn, then cancel or drain on close."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, coro: Awaitable[T], name: str) -> asyncio.Task[T]:
        """Run ``coro`` in a task that stays tracked until it ends."""
        task: asyncio.Task[T] = asyncio.ensure_future(coro)
        task.set_name(name)
        self.add(task)
        return task

    def add(self, task: asyncio.Task[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @contextlib.contextmanager
    def tracking_current(self) -> Iterator[None]:
        """Track the running task (a platform's own callback task) while the block runs."""
        me = asyncio.current_task()
        if me is not None:
            self._tasks.add(me)
        try:
            yield
        finally:
            if me is not None:
                self._tasks.discard(me)

    async def cancel(self) -> None:
        """Cancel every task and wait until they have ended."""
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def drain(self, grace: float) -> None:
        """Let the tasks finish for ``grace`` seconds, then cancel what is left."""
        if not self._tasks:
            return
        _done, pending = await asyncio.wait(set(self._tasks), timeout=grace)
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


class CommandRunner:
    """Acknowledge, run with a deadline, map errors to replies, answer; track and shut down.

    ``handler`` is read on every command (an adapter may bind it after starting; until then
    commands answer that the bot is starting). ``platform`` names the platform in log lines.
    """

    def __init__(
        self,
        *,
        platform: str,
        handler: Callable[[], CommandHandler | None],
        command_timeout: float,
        shutdown_grace: float,
        defer_after: float | None,
    ) -> None:
        self.platform = platform
        self._handler = handler
        self._timeout = command_timeout
        self._grace = shutdown_grace
        self._defer_after = defer_after
        self.tasks = TaskSet()
        self.closed = False

    async def reply(self, command: CommandName, text: str, context: ContextFactory) -> Reply:
        """The handler's reply, or the user-facing answer to starting up, a timeout or a failure."""
        handler = self._handler()
        if handler is None:
            return Reply(text=msg.STARTING, private=True, error=True)
        try:
            ctx = await context()
            async with asyncio.timeout(self._timeout):
                return await handler.handle(ctx, command, text)
        except TimeoutError:
            log.warning(
                "%s /%s %r took longer than %.0f s", self.platform, command, text[:100], self._timeout
            )
            return Reply(text=msg.took_too_long(command), private=True, error=True)
        except BotError as exc:
            return Reply(text=str(exc), private=True, error=True)
        except Exception:
            log.exception("%s /%s failed", self.platform, command)
            return Reply(text=msg.failed(command), private=True, error=True)

    async def dispatch(
        self,
        command: CommandName,
        text: str,
        *,
        context: ContextFactory,
        acknowledge: Acknowledge,
        answer: Answer,
        slow: bool = False,
        private: bool = False,
    ) -> None:
        """Run one command under the platform's acknowledgement policy.

        ``slow`` commands (quotes, charts, a scan of stories) are acknowledged at once;
        ``private`` guesses whether the reply will be private (a deferred "thinking…" shows
        either to everyone or to the asker only).
        """
        if self._defer_after is None:
            await acknowledge(private)
            if self.closed:
                return
            self.tasks.spawn(
                self._answer_later(command, text, context, answer), f"{self.platform}-/{command}"
            )
            return
        with self.tasks.tracking_current():
            work = self.tasks.spawn(self.reply(command, text, context), f"{self.platform}-/{command}")
            acknowledged = False
            if not slow:
                done, _ = await asyncio.wait({work}, timeout=self._defer_after)
            if slow or not done:
                if not await acknowledge(private):
                    # the window passed or the platform fails: the work still runs to its end
                    await asyncio.gather(work, return_exceptions=True)
                    return
                acknowledged = True
            await answer(await work, acknowledged)

    async def _answer_later(
        self, command: CommandName, text: str, context: ContextFactory, answer: Answer
    ) -> None:
        try:
            await answer(await self.reply(command, text, context), True)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s /%s: answering failed", self.platform, command)

    async def shutdown(self) -> None:
        """Take no more commands; let running ones finish for the grace period, cancel the rest."""
        self.closed = True
        await self.tasks.drain(self._grace)


async def rich_then_plain(
    message: M,
    *,
    send: Callable[[M], Awaitable[T]],
    plain: Callable[[M], M],
    refused: Callable[[Exception], bool],
    what: str,
) -> T:
    """Send ``message``; if the platform refuses its rich form, send ``plain(message)`` once.

    ``refused`` tells a refusal of the message itself (invalid blocks, an embed over a limit)
    from any other failure, which propagates as it is, like a failure of the plain send.
    """
    try:
        return await send(message)
    except Exception as exc:
        if not refused(exc):
            raise
        log.warning("%s: the message was refused (%s); sending it as text", what, exc)
    return await send(plain(message))


__all__ = ["CommandRunner", "TaskSet", "rich_then_plain"]

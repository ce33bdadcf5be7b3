"""The fake's server: lifecycle, test-side setup and views; the routes live in ``web_api``,
``socket_mode`` and ``commands``."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes.slack.commands import SlashCommands
from tests.fakes.slack.socket_mode import SocketMode
from tests.fakes.slack.state import (
    DEFAULT_BOT_SCOPES,
    ApiCall,
    Channel,
    Failure,
    Message,
    SocketConnection,
    Token,
    Upload,
    User,
    _ResponseUrl,
)
from tests.fakes.slack.web_api import WebApi
from tests.support.wait import WAIT_TIMEOUT, wait_until


class FakeSlack(WebApi, SocketMode, SlashCommands):
    """Slack's Web API, response_url endpoints, uploads and Socket Mode on 127.0.0.1."""

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-1-fake-bot-token",
        app_token: str = "xapp-1-fake-app-token",
        signing_secret: str = "fake-signing-secret",
        bot_scopes: Iterable[str] = DEFAULT_BOT_SCOPES,
        team_id: str = "T0FAKE0001",
        team: str = "Fake Markets",
        team_domain: str = "fakemarkets",
        bot_user_id: str = "U0BOT00001",
        bot_id: str = "B0BOT00001",
        app_id: str = "A0APP00001",
        ack_deadline: float = 3.0,
        host: str = "127.0.0.1",
        port: int = 0,
        post_rate: tuple[int, float] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``post_rate=(n, seconds)`` enforces Slack's per-channel chat.postMessage limit (1 per
        second: ``(1, 1.0)``) as Slack does, with HTTP 429 ``ratelimited`` and Retry-After; the
        times of accepted posts (on ``clock``, e.g. a test's virtual clock) are in ``post_times``.
        """
        self.post_rate = post_rate
        self.clock = clock
        self.post_times: dict[str, list[float]] = defaultdict(list)
        self.team_id = team_id
        self.team = team
        self.team_domain = team_domain
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.bot_token = bot_token
        self.app_token = app_token
        self.signing_secret = signing_secret
        self.ack_deadline = ack_deadline
        self.verification_token = "fake-verification-token"
        self._host = host
        self._port = port
        self.tokens: dict[str, Token] = {
            bot_token: Token(bot_token, "bot", set(bot_scopes)),
            app_token: Token(app_token, "app", {"connections:write"}),
        }
        self.channels: dict[str, Channel] = {}
        self.users: dict[str, User] = {
            bot_user_id: User(bot_user_id, "marketbot", "marketbot", is_bot=True),
        }
        self.calls: list[ApiCall] = []
        self._messages: dict[str, list[Message]] = defaultdict(list)
        self.ephemerals: dict[tuple[str, str], list[Message]] = defaultdict(list)
        self.uploads: dict[str, Upload] = {}
        self._upload_urls: dict[str, str] = {}
        self._failures: dict[str, deque[Failure]] = defaultdict(deque)
        self._tickets: dict[str, float] = {}
        self.connections: list[SocketConnection] = []
        self.ws_outage = False
        self.socket_refusals: list[str] = []
        self._conn_ids = itertools.count(1)
        self._ts_seq = itertools.count(1)
        self._pending_acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._site_port: int | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.http_session: aiohttp.ClientSession | None = None
        self.add_channel("C0GENERAL1", "general")

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> FakeSlack:
        app = web.Application(client_max_size=20 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/upload/v1/{upload_id}", self._upload)
        app.router.add_post("/commands/{team}/{cmd}/{secret}", self._response_url)
        app.router.add_get("/link/", self._socket)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        server = site._server
        assert server is not None
        self._site_port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.http_session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        return self

    async def aclose(self) -> None:
        for conn in list(self.connections):
            if not conn.closed:
                with contextlib.suppress(Exception):
                    await conn.ws.close(code=aiohttp.WSCloseCode.GOING_AWAY)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.http_session is not None:
            await self.http_session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeSlack:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def url(self) -> str:
        """The server root, e.g. ``http://127.0.0.1:54321/``."""
        return f"http://{self._host}:{self._site_port}/"

    @property
    def api_url(self) -> str:
        """What SLACK_API_URL should be set to (the Web API base, ending with '/')."""
        return f"{self.url}api/"

    # ------------------------------------------------------------ test-side setup

    def add_channel(
        self,
        channel_id: str,
        name: str,
        *,
        private: bool = False,
        member: bool = True,
        archived: bool = False,
    ) -> Channel:
        ch = Channel(
            channel_id,
            name,
            is_private=private,
            is_member=member,
            is_archived=archived,
            is_im=channel_id.startswith("D"),
        )
        self.channels[channel_id] = ch
        return ch

    def remove_channel(self, channel_id: str) -> None:
        self.channels.pop(channel_id, None)

    def add_user(self, user_id: str, name: str, **flags: bool) -> User:
        user = User(user_id, name, name.title(), **flags)
        self.users[user_id] = user
        return user

    def set_token_state(self, token: str, error: str | None) -> None:
        """Make a token answer ``token_revoked`` / ``account_inactive`` / ``invalid_auth`` (None: active).

        Every Web API call with it gets that error (HTTP 200, ``ok: false``), auth.test included,
        until it is set back to None.
        """
        self.tokens[token].state = error
        self._touch()

    def revoke_bot_token(self, error: str = "token_revoked") -> None:
        """The workspace uninstalls the app (``token_revoked``) or Slack stops accepting the token."""
        self.set_token_state(self.bot_token, error)

    def restore_bot_token(self) -> None:
        """The same token works again (app reinstalled with the token kept, Slack incident over)."""
        self.set_token_state(self.bot_token, None)

    def fail_next(
        self,
        method: str,
        *,
        times: int = 1,
        status: int = 200,
        error: str | None = None,
        retry_after: int | None = None,
        drop: bool = False,
        delay: float = 0.0,
        **extra: Any,
    ) -> None:
        """Script the next ``times`` calls of ``method``.

        ``status=429, retry_after=N`` answers Slack's rate limit; ``status=503`` a server error;
        ``error="not_in_channel"`` a logical error with HTTP 200; ``drop=True`` closes the
        connection without an answer; ``delay`` holds the answer back that many seconds.
        """
        if status == 429 and error is None:
            error = "ratelimited"
        for _ in range(times):
            self._failures[method].append(
                Failure(
                    status=status, error=error, retry_after=retry_after, drop=drop, delay=delay, extra=extra
                )
            )

    def clear_failures(self) -> None:
        """Forget scripted failures not used yet (``fail_next``)."""
        self._failures.clear()

    # ------------------------------------------------------------ test-side views

    def messages(self, channel: str) -> list[Message]:
        """Messages visible to everyone in ``channel`` (top level and thread replies), oldest first."""
        return list(self._messages.get(channel, []))

    def thread(self, channel: str, ts: str) -> list[Message]:
        return [m for m in self._messages.get(channel, []) if m.thread_ts == ts]

    def calls_to(self, method: str) -> list[ApiCall]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(
        self, predicate: Callable[[], Any], *, timeout: float = WAIT_TIMEOUT, what: str = "a condition"
    ) -> Any:
        """Wait until ``predicate()`` is truthy (re-checked whenever the fake's state changes)."""
        return await wait_until(predicate, what=what, timeout=timeout, changed=self._changed)

    async def wait_messages(
        self, channel: str, count: int = 1, *, timeout: float = WAIT_TIMEOUT
    ) -> list[Message]:
        await self.wait_for(
            lambda: len(self._messages.get(channel, [])) >= count,
            timeout=timeout,
            what=f"{count} message(s) in {channel}",
        )
        return self.messages(channel)

    def _touch(self) -> None:
        self._changed.set()

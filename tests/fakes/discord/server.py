"""The fake's server: lifecycle, world set-up, observation and gateway controls; the rest lives in
``users``, ``http``, ``rest``, ``interactions`` and ``gateway``."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.fakes.discord.gateway import Gateway
from tests.fakes.discord.interactions import InteractionRoutes
from tests.fakes.discord.limits import (
    API_PREFIX,
)
from tests.fakes.discord.plumbing import HttpPlumbing
from tests.fakes.discord.rest import RestRoutes
from tests.fakes.discord.state import (
    Channel,
    GatewayConnection,
    GatewaySession,
    Guild,
    Interaction,
    Message,
    User,
    World,
    _Bucket,
    _Failure,
)
from tests.fakes.discord.users import UserActions
from tests.fakes.discord.wire import (
    RecordedRequest,
    UserCannotDoThat,
    _Snowflakes,
)
from tests.support.wait import WAIT_TIMEOUT, wait_until

# ---------------------------------------------------------------- the server


class DiscordFake(UserActions, HttpPlumbing, RestRoutes, InteractionRoutes, Gateway):
    """Discord on loopback. ``async with DiscordFake() as discord:`` then point discord.py at
    ``discord.api_url`` and ``discord.gateway_url``."""

    def __init__(
        self,
        *,
        token: str | None = None,
        heartbeat_interval_ms: int = 41_250,
        message_rate: tuple[int, float] = (5, 5.0),
        ack_deadline: float = 3.0,
        privileged_intents: int = 0,
        nonce_window: float = 300.0,
    ) -> None:
        self.ids = _Snowflakes()
        self.token = token or f"MTA{secrets.token_urlsafe(20)}.fake.{secrets.token_urlsafe(8)}"
        self._valid_token: str | None = None  # the real token while ``revoke_token`` is in effect
        self.bot = User(self.ids.next(), "marketbot", bot=True)
        self.application_id = self.bot.id
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.message_rate = message_rate
        self.ack_deadline = ack_deadline
        self.privileged_intents = privileged_intents
        self.nonce_window = nonce_window
        self.guilds: dict[int, Guild] = {}
        self._channels: dict[int, Channel] = {}
        self.requests: list[RecordedRequest] = []
        self.global_commands: list[dict[str, Any]] = []
        self.guild_commands: dict[int, list[dict[str, Any]]] = {}
        self.command_syncs: list[tuple[int | None, list[dict[str, Any]]]] = []
        self.interactions: dict[int, Interaction] = {}
        self.webhook_messages: dict[int, Message] = {}
        self.sessions: dict[str, GatewaySession] = {}
        self.connections: list[GatewayConnection] = []
        self.identify_count = 0
        self.resume_count = 0
        self._failures: list[_Failure] = []
        self._buckets: dict[str, _Bucket] = {}
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self.port = 0

    # ------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> DiscordFake:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def start(self, port: int = 0) -> None:
        app = web.Application(middlewares=[self._middleware], client_max_size=30 * 1024 * 1024)
        r = app.router
        p = API_PREFIX
        r.add_get("/gateway", self._gateway)
        r.add_get("/gateway-resume", self._gateway)
        r.add_get(f"{p}/gateway", self._get_gateway)
        r.add_get(f"{p}/users/@me", self._users_me)
        r.add_get(f"{p}/oauth2/applications/@me", self._application_me)
        r.add_get(f"{p}/applications/@me", self._application_me)
        r.add_get(p + "/applications/{application_id}/commands", self._get_commands)
        r.add_put(p + "/applications/{application_id}/commands", self._put_commands)
        r.add_get(p + "/applications/{application_id}/guilds/{guild_id}/commands", self._get_commands)
        r.add_put(p + "/applications/{application_id}/guilds/{guild_id}/commands", self._put_commands)
        r.add_get(p + "/channels/{channel_id}", self._get_channel)
        r.add_post(p + "/channels/{channel_id}/messages", self._create_message)
        r.add_get(p + "/channels/{channel_id}/messages/{message_id}", self._get_message)
        r.add_patch(p + "/channels/{channel_id}/messages/{message_id}", self._edit_message)
        r.add_delete(p + "/channels/{channel_id}/messages/{message_id}", self._delete_message)
        r.add_post(p + "/channels/{channel_id}/messages/{message_id}/threads", self._start_thread)
        r.add_post(p + "/interactions/{interaction_id}/{token}/callback", self._callback)
        r.add_post(p + "/webhooks/{application_id}/{token}", self._followup)
        r.add_get(p + "/webhooks/{application_id}/{token}/messages/{message_id}", self._webhook_message)
        r.add_patch(p + "/webhooks/{application_id}/{token}/messages/{message_id}", self._webhook_message)
        r.add_delete(p + "/webhooks/{application_id}/{token}/messages/{message_id}", self._webhook_message)
        r.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", self._download)
        r.add_route("*", "/{tail:.*}", self._not_found)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, "127.0.0.1", port)
        await self._site.start()
        server = self._site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def aclose(self) -> None:
        for conn in self.connections:
            if not conn.ws.closed:
                conn.closed_by_server = True
                with contextlib.suppress(Exception):
                    await conn.ws.close(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """What ``DISCORD_API_URL`` should be (discord.py's ``Route.BASE``)."""
        return f"{self.base_url}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        """What ``DISCORD_GATEWAY_URL`` should be."""
        return f"ws://127.0.0.1:{self.port}/gateway"

    # ------------------------------------------------------------ world set-up

    def add_guild(
        self, name: str = "Trading Desk", *, guild_id: int | None = None, commands_scope: bool = True
    ) -> Guild:
        g = Guild(id=guild_id or self.ids.next(), name=name, fake=self, commands_scope=commands_scope)
        self.guilds[g.id] = g
        return g

    def world(self) -> World:
        """A server with an #alerts channel, a moderator (Manage Channels) and a plain member."""
        guild = self.add_guild("Trading Desk")
        return World(
            guild=guild,
            channel=guild.add_channel("alerts"),
            moderator=guild.add_member("mod", manage_channels=True),
            member=guild.add_member("reader"),
        )

    def channel(self, channel_id: int) -> Channel:
        return self._channels[channel_id]

    def revoke_token(self) -> None:
        """The bot token stops working: REST answers 401, IDENTIFY closes with 4004."""
        if self._valid_token is None:
            self._valid_token = self.token
        self.token = "revoked-" + secrets.token_hex(8)

    async def reset_token(self) -> None:
        """What "Reset Token" in the Developer Portal does: the token stops working at once and
        every gateway session is closed with 4004 (Authentication failed)."""
        self.revoke_token()
        for conn in list(self.connections):
            if not conn.ws.closed:
                await self._close(conn, 4004, b"Authentication failed")

    def restore_token(self) -> None:
        """The revoked token works again (REST and IDENTIFY accept it)."""
        if self._valid_token is not None:
            self.token, self._valid_token = self._valid_token, None

    def fail(
        self,
        route: str,
        *,
        status: int = 429,
        times: int = 1,
        retry_after: float = 0.2,
        is_global: bool = False,
        code: int = 0,
        message: str | None = None,
        channel_id: int | None = None,
        scope: str = "user",
    ) -> None:
        """Answer the next ``times`` matching requests with ``status``.

        ``route`` is ``"METHOD /template"`` as discord.py names it, e.g.
        ``"POST /channels/{channel_id}/messages"``; ``channel_id`` narrows it to one channel.
        429s carry ``retry_after`` in the body and Discord's rate-limit headers.
        """
        default = {
            429: "You are being rate limited.",
            500: "500: Internal Server Error",
            502: "502: Bad Gateway",
        }
        self._failures.append(
            _Failure(
                route=route,
                status=status,
                times=times,
                retry_after=retry_after,
                is_global=is_global,
                code=code,
                message=message or default.get(status, f"{status}: error"),
                channel_id=channel_id,
                scope=scope,
            )
        )

    # ------------------------------------------------------------ observation

    async def _notify(self) -> None:
        self._changed.set()

    async def wait_for(
        self, predicate: Callable[[], bool], *, timeout: float = WAIT_TIMEOUT, what: str = "a condition"
    ) -> None:
        """Wait until ``predicate()`` holds (re-checked on every change); the failure names ``what``."""
        await wait_until(
            predicate, what=f"the fake Discord to see {what}", timeout=timeout, changed=self._changed
        )

    def messages(self, channel_id: int, *, include_deleted: bool = False) -> list[Message]:
        ch = self._channels[channel_id]
        return [m for m in ch.messages if include_deleted or not m.deleted]

    async def wait_messages(
        self, channel_id: int, count: int = 1, *, timeout: float = WAIT_TIMEOUT
    ) -> list[Message]:
        await self.wait_for(
            lambda: len(self.messages(channel_id)) >= count,
            timeout=timeout,
            what=f"{count} message(s) in {channel_id}",
        )
        return self.messages(channel_id)

    def requests_to(self, route: str) -> list[RecordedRequest]:
        """Recorded requests whose ``"METHOD /template"`` equals ``route``."""
        return [r for r in self.requests if f"{r.method} {r.route}" == route]

    def commands(self, guild_id: int | None = None) -> list[dict[str, Any]]:
        return self.guild_commands.get(guild_id, []) if guild_id else self.global_commands

    @property
    def live_connections(self) -> list[GatewayConnection]:
        """Connections holding an identified or resumed session now (one per connected replica)."""
        return [c for c in self.connections if c.session is not None and not c.ws.closed]

    def callback_statuses(self, interaction_id: int) -> list[int]:
        """HTTP statuses of every callback the bot made to one interaction (a 400 is a second answer)."""
        return [
            r.status
            for r in self.requests_to("POST /interactions/{interaction_id}/{token}/callback")
            if r.path.split("/")[-3] == str(interaction_id)
        ]

    @property
    def active_connection(self) -> GatewayConnection | None:
        for conn in reversed(self.connections):
            if conn.session is not None and not conn.ws.closed:
                return conn
        return None

    async def wait_connected(
        self, *, identifies: int = 1, timeout: float = WAIT_TIMEOUT
    ) -> GatewayConnection:
        """Wait until the bot has identified ``identifies`` times and holds a live session."""
        await self.wait_for(
            lambda: self.identify_count >= identifies and self.active_connection is not None,
            timeout=timeout,
            what=f"IDENTIFY #{identifies}",
        )
        conn = self.active_connection
        assert conn is not None
        return conn

    # ------------------------------------------------------------ gateway controls

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a DISPATCH to every session of the bot, as Discord does (buffered for RESUME
        where a session is disconnected)."""
        sessions = [s for s in self.sessions.values() if s.resumable]
        if not sessions:
            raise UserCannotDoThat("the bot has no gateway session: it never identified")
        for session in sessions:
            await self._send_dispatch(session, event, data)

    async def request_reconnect(self) -> None:
        """Send op 7 RECONNECT: the bot should reconnect to ``resume_gateway_url`` and RESUME."""
        conn = self.active_connection
        assert conn is not None, "no live gateway connection"
        await self._send(conn, {"op": 7, "d": None})

    async def invalidate_session(self, *, resumable: bool = False) -> None:
        """Send op 9 INVALID_SESSION; not resumable forces a fresh IDENTIFY."""
        conn = self.active_connection
        assert conn is not None and conn.session is not None, "no live gateway connection"
        if not resumable:
            conn.session.resumable = False
        await self._send(conn, {"op": 9, "d": resumable})

    async def drop_connection(self, code: int = 1006) -> None:
        """Close the socket abruptly (a network blip): the bot should reconnect and RESUME."""
        conn = self.active_connection
        assert conn is not None, "no live gateway connection"
        conn.closed_by_server = True
        await conn.ws.close(code=code)


def pings(content: str, allowed_mentions: dict[str, Any] | None = None) -> list[str]:
    """Who Discord would notify for ``content`` in a server where the bot may mention everyone."""
    fake = DiscordFake.__new__(DiscordFake)
    return DiscordFake._pings(fake, None, content, allowed_mentions)[0]

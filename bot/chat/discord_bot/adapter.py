"""DiscordAdapter: the gateway lifecycle (log in, connect, resume, standby, close), health,
and the ChatAdapter and command front ends it delegates to (``send``, ``commands``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import sys
from collections.abc import Collection, Sequence
from typing import Any, Literal

import aiohttp
import discord
import yarl
from discord import app_commands

from bot.chat.base import ChatPlatform
from bot.chat.discord_bot.commands import CommandTree, InteractionCommands
from bot.chat.discord_bot.errors import delivery_error, rejected_token
from bot.chat.discord_bot.send import NO_MENTIONS, DiscordSender
from bot.chat.discord_bot.setup import api_base, gateway_base
from bot.chat.discord_embeds import (
    DiscordMessage,
    render,
)
from bot.config import Env
from bot.domain.errors import BotError, ConfigError, CredentialsRejected, DeliveryError
from bot.domain.models import Alert, ChannelRef, MessageRef, Reply
from bot.ports import CommandHandler

log = logging.getLogger(__name__)


class _Client(discord.Client):
    """discord.Client that reports gateway state to the adapter."""

    def __init__(self, adapter: DiscordAdapter, **options: Any) -> None:
        super().__init__(**options)
        self._adapter = adapter

    async def on_connect(self) -> None:  # READY parsed
        self._adapter._on_gateway("connect")

    async def on_resumed(self) -> None:
        self._adapter._on_gateway("resumed")

    async def on_disconnect(self) -> None:
        self._adapter._on_gateway("disconnect")

    async def on_error(self, event_method: str, /, *args: Any, **kwargs: Any) -> None:
        log.error(
            "Discord: error in %s", event_method, exc_info=sys.exc_info()
        )  # called from an except block


class DiscordAdapter(ChatPlatform):
    """Discord ChatAdapter and application-command front end.

    Use ``async with DiscordAdapter(...)`` (or ``start()`` / ``aclose()``); nothing keeps running
    after ``aclose()``. ``bind_commands`` attaches the shared command handler.
    """

    platform = "discord"
    channel_rate = (5, 5.0)

    def __init__(
        self,
        *,
        token: str,
        commands: CommandHandler | None = None,
        guild_ids: Sequence[int] = (),
        api_url: str | None = None,
        gateway_url: str | None = None,
        admins: Collection[str] = (),
        sync_commands: bool = True,
        gateway: bool = True,
        standby: bool = False,
        followups: Literal["thread", "reply"] = "thread",
        defer_after: float = 1.5,
        command_timeout: float = 600.0,
        request_timeout: float = 60.0,
        connect_timeout: float = 15.0,
        autocomplete_timeout: float = 2.5,
        max_ratelimit_timeout: float = 30.0,
        shutdown_grace: float = 5.0,
        guild_ready_timeout: float = 2.0,
    ) -> None:
        if not token or not token.strip():
            raise ConfigError(
                "DISCORD_BOT_TOKEN is not set: copy the bot token from the Developer Portal "
                "(your application → Bot → Reset Token)"
            )
        self._token = token.strip()
        self.api_url = api_base(api_url)
        self.gateway_url = gateway_base(gateway_url)
        self._commands = commands
        self.guild_ids = tuple(guild_ids)
        self._admins = frozenset(a.removeprefix("discord:") for a in admins)
        self._sync = sync_commands and gateway
        self._gateway = gateway
        self._gateway_on = gateway and not standby  # standby: set_gateway(True) connects it later
        self._switch = asyncio.Lock()
        self._request_timeout = request_timeout
        self._connect_timeout = connect_timeout
        self._max_ratelimit_timeout = max(30.0, max_ratelimit_timeout)  # discord.py's minimum
        self._guild_ready_timeout = guild_ready_timeout
        self._client: _Client | None = None
        self._tree: CommandTree | None = None
        self._runner: asyncio.Task[None] | None = None
        self._front = InteractionCommands(
            handler=lambda: self._commands,
            admins=self._admins,
            defer_after=defer_after,
            command_timeout=command_timeout,
            autocomplete_timeout=autocomplete_timeout,
            shutdown_grace=shutdown_grace,
        )
        self._sender = DiscordSender(
            client=self._require_client,
            request_timeout=request_timeout,
            followups=followups,
            on_rejected=self._rejected,
        )
        self._connected = asyncio.Event()
        self._saved_endpoints: tuple[str, yarl.URL] | None = None
        self._fatal: BaseException | None = None
        self._auth_problem: CredentialsRejected | None = None
        self._started = False
        self._closed = False
        self.application_id: int | None = None
        self.synced: dict[int | None, int] = {}  # guild id (None: global) -> commands synced
        self.connects = 0
        self.resumes = 0
        self.disconnects = 0

    @classmethod
    def from_settings(
        cls,
        env: Env,
        admins: Sequence[str] = (),
        *,
        commands: CommandHandler | None = None,
        gateway: bool = True,
        standby: bool = False,
    ) -> DiscordAdapter:
        """Build from DISCORD_BOT_TOKEN, DISCORD_GUILD_IDS, DISCORD_API_URL, DISCORD_GATEWAY_URL and the config's ``admins``."""
        admins = [a for a in admins if a.startswith("discord:")]
        return cls(  # without DISCORD_BOT_TOKEN, __init__ says how to get one
            token=env.discord_bot_token.get_secret_value() if env.discord_bot_token else "",
            commands=commands,
            guild_ids=env.discord_guild_ids,
            api_url=env.discord_api_url,
            gateway_url=env.discord_gateway_url,
            admins=admins,
            gateway=gateway,
            standby=standby,
        )

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Log in (checks the token), sync the commands, connect the gateway in a task.

        A rejected token does not stop start-up: it is logged with the fix and kept in
        ``auth_problem`` (delivery pauses; ``check_auth`` logs in and connects once Discord
        accepts the token again). A refused intent raises ConfigError. Discord being
        unreachable does not stop start-up: the gateway task keeps retrying with backoff and
        alerts wait in the outbox.
        """
        if self._started:
            return
        self._started = True
        self._install_endpoints()
        # marketbot never joins voice: skip discord.py's "PyNaCl/davey is not installed" warnings
        discord.VoiceClient.warn_nacl = False
        discord.VoiceClient.warn_dave = False
        try:
            await self._open()
        except BaseException:
            await self.aclose()
            raise
        if self._runner is None:
            return  # send-only, or the token was rejected
        try:
            await self.wait_connected(timeout=self._connect_timeout)
        except TimeoutError:
            log.warning("Discord: gateway not connected after %.0f s; still trying", self._connect_timeout)
        except BaseException:
            await self.aclose()
            raise

    async def _open(self) -> None:
        """A fresh client: log in, sync the commands, and start the gateway task (unless send-only)."""
        intents = discord.Intents.none()
        intents.guilds = True  # guild and channel cache; not privileged
        self._client = _Client(
            self,
            intents=intents,
            allowed_mentions=NO_MENTIONS,
            max_ratelimit_timeout=self._max_ratelimit_timeout,
            chunk_guilds_at_startup=False,
            member_cache_flags=discord.MemberCacheFlags.none(),
            max_messages=None,
            guild_ready_timeout=self._guild_ready_timeout,
        )
        self._tree = self._front.tree(self._client, self.guild_ids)
        self._fatal = None
        logged_in = await self._login()
        if self._auth_problem is not None:
            return
        if logged_in and self._sync:
            await self.sync_commands()
        if self._gateway_on:
            self._runner = asyncio.create_task(self._run(logged_in), name="discord-gateway")

    async def _login(self) -> bool:
        """Log in; False when Discord is unreachable (the gateway task retries) or rejects the token."""
        assert self._client is not None
        try:
            async with asyncio.timeout(self._request_timeout):
                await self._client.login(self._token)
        except discord.LoginFailure:
            self._rejected(rejected_token(f"401 at {self.api_url}/users/@me"))
            return False
        except (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.warning(
                "Discord: cannot log in yet (%s); will keep trying", delivery_error(exc, action="log in")
            )
            return False
        self.application_id = self._client.application_id
        self._auth_problem = None
        return True

    def _rejected(self, problem: CredentialsRejected) -> None:
        """Remember that Discord refuses the token (logged once until it works again)."""
        known, self._auth_problem = self._auth_problem, problem
        if known is None:
            log.error(
                "%s. Discord delivery is paused until Discord accepts the token again (alerts stay queued)",
                problem,
                extra={"platform": "discord", "outcome": "paused"},
            )

    @property
    def auth_problem(self) -> CredentialsRejected | None:
        """Why Discord refuses the bot token (at log-in, on a send, gateway 4004), None while it works."""
        return self._auth_problem

    async def check_auth(self) -> None:
        """``GET /users/@me`` with the token: raises CredentialsRejected while Discord refuses it.

        A retryable DeliveryError means Discord could not be asked. When the token works again
        after a rejection, the client logs in again and (unless send-only) reconnects the gateway.
        """
        headers = {"Authorization": f"Bot {self._token}", "User-Agent": "marketbot (auth check)"}
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._request_timeout)) as http,
                http.get(f"{self.api_url}/users/@me", headers=headers) as resp,
            ):
                status = resp.status
                retry_after = resp.headers.get("Retry-After")
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise delivery_error(exc, action="check the token") from None
        if status == 401:
            self._rejected(rejected_token())
            raise self._auth_problem  # type: ignore[misc]
        if status != 200:
            after = None
            with contextlib.suppress(TypeError, ValueError):
                after = float(retry_after) if retry_after is not None else None
            raise DeliveryError(
                f"Discord answered HTTP {status} to GET /users/@me; will check again",
                retryable=True,
                retry_after=after,
                code=f"http_{status}",
            )
        if self._auth_problem is None and not self._needs_reopen():
            return
        log.info("Discord accepts DISCORD_BOT_TOKEN again; logging in")
        self._auth_problem = None
        if self._closed:
            return
        await self._reopen()

    def _needs_reopen(self) -> bool:
        client = self._client
        if client is None or client.is_closed() or self.application_id is None:
            return True
        return self._gateway_on and (self._runner is None or self._runner.done())

    async def _reopen(self) -> None:
        """Replace a client that a rejected token left closed (or never logged in) with a fresh one."""
        old, runner = self._client, self._runner
        self._runner = None
        if old is not None:
            with contextlib.suppress(Exception):
                await old.close()
        if runner is not None and not runner.done():
            runner.cancel()
        if runner is not None:
            await asyncio.gather(runner, return_exceptions=True)
        self._connected.clear()
        await self._open()
        if self._auth_problem is not None:
            raise self._auth_problem

    async def _run(self, logged_in: bool) -> None:
        """Keep the gateway connected until aclose; discord.py reconnects and RESUMEs by itself."""
        client = self._client
        assert client is not None
        delay = 1.0
        while not self._closed and self._gateway_on:
            try:
                if not logged_in:
                    logged_in = await self._login()
                    if self._auth_problem is not None:
                        return  # the token is refused: check_auth starts over once it works
                    if not logged_in:
                        raise ConnectionError("login failed")
                    if self._sync:
                        await self.sync_commands()
                await client.connect(reconnect=True)
                return
            except discord.PrivilegedIntentsRequired:
                self._fatal = ConfigError(
                    "Discord refused the gateway intents (4014): marketbot needs no privileged intents; "
                    "this build asked for one, which is a bug"
                )
                log.error("%s", self._fatal)
                return
            except discord.ConnectionClosed as exc:
                if exc.code == 4004:
                    self._fatal = ConfigError(
                        "Discord closed the gateway: authentication failed (4004); copy DISCORD_BOT_TOKEN again"
                    )
                    self._rejected(rejected_token("gateway close 4004, authentication failed"))
                    return
                if self._closed:
                    return
                log.warning("Discord: gateway closed with %s; reconnecting in %.0f s", exc.code, delay)
            except ConfigError as exc:
                self._fatal = exc
                log.error("%s", exc)
                return
            except (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError) as exc:
                if self._closed:
                    return
                log.warning("Discord: %s; retrying in %.0f s", delivery_error(exc, action="connect"), delay)
            if self._closed:
                return
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, 60.0)
            if client.is_closed():
                return

    @property
    def gateway_on(self) -> bool:
        """Whether this adapter runs (or is trying to run) a gateway session."""
        return self._gateway_on

    async def set_gateway(self, on: bool) -> None:
        """Connect (``True``) or close (``False``) the gateway session; REST sending goes on.

        Closing ends the session (close code 1000, so Discord sends it nothing more); connecting
        again identifies a fresh one. A send-only adapter (``gateway=False``) ignores this. While
        Discord refuses the token, ``check_auth`` connects once it works again.
        """
        if not self._gateway or self._closed:
            return
        async with self._switch:
            if on == self._gateway_on:
                return
            self._gateway_on = on
            if on:
                log.info("Discord: starting the gateway session (this replica leads)")
                if self._client is None or self._client.is_closed() or self._auth_problem is not None:
                    return  # not logged in: check_auth opens a fresh client with the gateway
                if self._runner is None or self._runner.done():
                    logged_in = self.application_id is not None
                    self._runner = asyncio.create_task(self._run(logged_in), name="discord-gateway")
                return
            log.info("Discord: closing the gateway session (another replica leads)")
            await self._stop_gateway()

    async def _stop_gateway(self) -> None:
        """End the gateway task and its websocket; the client (and its HTTP session) stays open."""
        runner, self._runner = self._runner, None
        if runner is not None and not runner.done():
            runner.cancel()
        if runner is not None:
            await asyncio.gather(runner, return_exceptions=True)
        client = self._client
        if client is not None:
            ws = client.ws
            if ws is not None and ws.open:
                with contextlib.suppress(Exception):
                    await ws.close(code=1000)  # Discord ends the session: nothing more is sent to it
            ready = getattr(client._connection, "_ready_task", None)
            if isinstance(ready, asyncio.Task) and not ready.done():
                ready.cancel()
                await asyncio.gather(ready, return_exceptions=True)
        if self._connected.is_set():
            self._on_gateway("disconnect")

    async def aclose(self) -> None:
        """Let running commands finish briefly, cancel what is left, close the gateway and HTTP session."""
        if self._closed:
            return
        self._closed = True
        await self._front.shutdown()
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.close()
            # discord.py's close() leaves the task that waits for GUILD_CREATEs after READY running
            # for up to guild_ready_timeout; nothing may outlive aclose()
            ready = getattr(self._client._connection, "_ready_task", None)
            if isinstance(ready, asyncio.Task) and not ready.done():
                ready.cancel()
                await asyncio.gather(ready, return_exceptions=True)
        if self._runner is not None:
            try:
                async with asyncio.timeout(10.0):
                    await asyncio.gather(self._runner, return_exceptions=True)
            except TimeoutError:
                self._runner.cancel()
                await asyncio.gather(self._runner, return_exceptions=True)
        self._connected.clear()
        self._restore_endpoints()

    def _install_endpoints(self) -> None:
        from discord.gateway import DiscordWebSocket
        from discord.http import Route

        self._saved_endpoints = (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
        Route.BASE = self.api_url
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)

    def _restore_endpoints(self) -> None:
        from discord.gateway import DiscordWebSocket
        from discord.http import Route

        if self._saved_endpoints is not None:
            Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = self._saved_endpoints
            self._saved_endpoints = None

    def _on_gateway(self, event: str) -> None:
        if event == "connect":
            self.connects += 1
            self._connected.set()
            log.info(
                "Discord: gateway connected (session %s)",
                getattr(self._client.ws, "session_id", "?") if self._client else "?",
            )
        elif event == "resumed":
            self.resumes += 1
            self._connected.set()
            log.info("Discord: gateway session resumed")
        else:
            self.disconnects += 1
            self._connected.clear()

    async def wait_connected(self, timeout: float = 30.0) -> None:
        """Wait until the gateway session is up; raises the fatal error if the gateway gave up."""
        runner = self._runner
        waiter = asyncio.ensure_future(self._connected.wait())
        try:
            pending: set[asyncio.Future[Any]] = {waiter}
            if runner is not None:
                pending.add(runner)
            async with asyncio.timeout(timeout):
                while not self._connected.is_set():
                    await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                    if self._fatal is not None:
                        raise self._fatal
                    if runner is not None and runner.done():
                        raise DeliveryError("the Discord gateway stopped", retryable=True, code="not_started")
        finally:
            waiter.cancel()

    @property
    def gateway_error(self) -> BaseException | None:
        """Why the gateway gave up for good (a rejected token, a refused intent), if it did."""
        return self._fatal

    @property
    def connected(self) -> bool:
        client = self._client
        return bool(client is not None and not client.is_closed() and self._connected.is_set())

    def status(self) -> dict[str, Any]:
        """For health checks: connection state, application, synced commands, reconnect counts."""
        client = self._client
        return {
            "platform": "discord",
            "connected": self.connected,
            "application_id": self.application_id,
            "guilds": len(client.guilds) if client is not None else 0,
            "commands_synced": {str(k or "global"): v for k, v in self.synced.items()},
            "gateway_connects": self.connects,
            "gateway_resumes": self.resumes,
            "gateway_disconnects": self.disconnects,
            "gateway_error": str(self._fatal) if self._fatal else None,
            # "standby": this replica sends but another one holds the gateway session
            "gateway": "on" if self._gateway_on else "standby" if self._gateway else "send-only",
            "auth": "ok" if self._auth_problem is None else f"rejected: {self._auth_problem}",
            # discord.py reports inf before the first heartbeat and nan without a gateway
            "latency_ms": round(client.latency * 1000)
            if client is not None and math.isfinite(client.latency)
            else None,
        }

    # ------------------------------------------------------------ commands

    async def sync_commands(self) -> None:
        """Register /quote, /news and /watch: in each of ``guild_ids`` (instant) or globally.

        A guild that refuses (the bot is not in it, or was invited without
        ``applications.commands``) is logged with the fix; the others still sync.
        """
        tree = self._tree
        if tree is None:
            return
        targets: list[discord.Object | None] = [discord.Object(g) for g in self.guild_ids]
        # in guild mode the global list is synced empty: stale global copies would show twice
        targets.append(None)
        for guild in targets:
            where = f"guild {guild.id}" if guild is not None else "globally"
            try:
                async with asyncio.timeout(self._request_timeout):
                    synced = await tree.sync(guild=guild)
            except discord.Forbidden:
                log.error(
                    "Discord: cannot register commands in %s (Missing Access): the bot is not in that server "
                    "or was invited without applications.commands; open the URL from `marketbot discord invite`",
                    where,
                )
                continue
            except app_commands.CommandSyncFailure as exc:
                raise BotError(f"Discord refused marketbot's command definitions: {exc}") from exc
            self.synced[guild.id if guild is not None else None] = len(synced)
            log.info("Discord: %d commands registered %s", len(synced), where)

    # ------------------------------------------------------------ ChatAdapter

    def render(self, message: Alert | Reply) -> DiscordMessage:
        """The Discord message for an alert or a reply (what send() posts)."""
        return render(message)

    def _require_client(self) -> _Client:
        client = self._client
        if self._auth_problem is not None and not self._closed:
            raise self._auth_problem  # the same answer Discord would give, without asking it
        if client is None or self._closed:
            raise DeliveryError("the Discord adapter is not running", retryable=True, code="not_started")
        if self.application_id is None:
            raise DeliveryError(
                "the Discord adapter has not logged in yet", retryable=True, code="not_started"
            )
        return client

    async def send(
        self, message: Alert | Reply, *, target: ChannelRef, thread: MessageRef | None = None
    ) -> MessageRef:
        """Post to a channel; with ``thread``, in a thread on that message; with only
        ``alert.thread_of``, as a reply to that message in the channel (see ``DiscordSender.send``)."""
        return await self._sender.send(message, target=target, thread=thread)

    async def edit(self, ref: MessageRef, message: Alert | Reply) -> None:
        """Replace a message's content in place (late prices), with mentions still disabled."""
        await self._sender.edit(ref, message)

"""Discord as a chat platform: embeds for alerts, /quote /news /watch as application commands.

``DiscordAdapter`` implements ``bot.ports.ChatAdapter`` with discord.py on the shared event
loop (``client.connect`` runs in a task; ``start``/``aclose`` or ``async with``) and binds a
``bot.ports.CommandHandler`` to an ``app_commands.CommandTree``. Only the Guilds intent is
requested (no privileged intents, no message content): commands arrive as interactions.

``DISCORD_API_URL`` and ``DISCORD_GATEWAY_URL`` replace discord.py's REST base
(``discord.http.Route.BASE``) and gateway (``DiscordWebSocket.DEFAULT_GATEWAY``) — for REST and
gateway proxies, and for tests on loopback. Both are process-wide in discord.py; ``aclose``
restores them.

Replicas: only one of them may hold a gateway session (Discord sends every interaction to every
session of the bot). ``standby=True`` starts an adapter that sends (REST) and has its commands
ready but leaves the gateway off; ``set_gateway(True/False)`` connects or closes the session
while sending keeps working — ``bot.cluster.GatewayLeader`` calls it on the replica that holds
the gateway lease.

Retries and rate limits: discord.py retries 429s itself (it sleeps ``retry_after`` and tries
again, up to five times, and waits ahead of time when a bucket is empty), and retries 500/502/
504 with a short backoff. The adapter surfaces a retryable ``DeliveryError`` only when
discord.py gives up — a wait longer than ``max_ratelimit_timeout`` (``RateLimited``, nothing
was sent) or retries exhausted — so the outbox's retry is the next attempt, never a second
copy of one discord.py already made. Every message also carries a nonce derived from the
alert's idempotency key with ``enforce_nonce``, so Discord itself drops a duplicate of a send
whose response was lost (a timeout) when the outbox retries it within a few minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import io
import logging
import math
import random
import re
import sys
from collections import OrderedDict
from collections.abc import Awaitable, Collection, Sequence
from typing import Any, Final, Literal, TypeVar

import aiohttp
import discord
import yarl
from discord import app_commands

from bot.chat.base import ChatPlatform
from bot.chat.discord_embeds import (
    CONTENT,
    DiscordMessage,
    alert_message,
    escape,
    plain,
    render,
    reply_message,
)
from bot.commands.messages import FEED_SUBCOMMANDS, WATCH_SUBCOMMANDS
from bot.config import Env
from bot.domain.errors import BotError, ConfigError, CredentialsRejected, DeliveryError
from bot.domain.models import Alert, ChannelRef, CommandContext, MessageRef, Reply
from bot.ports import CommandHandler, CommandName, CompleteKind

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_API_URL: Final = "https://discord.com/api/v10"
DEFAULT_GATEWAY_URL: Final = "wss://gateway.discord.gg/"

# What the invite asks for, and nothing more: post alerts (Send Messages), as embeds (Embed
# Links), with charts (Attach Files), and follow-ups in a thread on the alert (Create Public
# Threads, Send Messages in Threads). View Channel and Read Message History come from the
# @everyone role in a default server; a channel that denies them must grant them to the bot.
INVITE_PERMISSIONS: Final = discord.Permissions(
    send_messages=True,
    embed_links=True,
    attach_files=True,
    create_public_threads=True,
    send_messages_in_threads=True,
)
INVITE_SCOPES: Final = ("bot", "applications.commands")
NO_MENTIONS: Final = discord.AllowedMentions.none()
# option types, at module level: discord.py resolves annotations in the module's globals
WatchlistName = app_commands.Range[str, 1, 32]
OptionText = app_commands.Range[str, 1, 60]
HourlyCap = app_commands.Range[int, 0, 3600]
BRIEFING_CHOICES: Final = [
    app_commands.Choice(name="pre-market briefing on trading days", value="premarket"),
    app_commands.Choice(name="off", value="off"),
]

STATE_CHANGING: Final = frozenset(
    {"create", "add", "remove", "delete", "query", "subscribe", "options", "unsubscribe", "mute", "unmute"}
)
# answered after a defer at once: they wait on quotes, charts or a scan of a day of stories
SLOW: Final = frozenset(
    {("quote", ""), ("news", ""), ("watch", "test"), ("watch", "status"), ("feed", "add"), ("feed", "test")}
)

# Discord JSON error codes (https://discord.com/developers/docs/topics/opcodes-and-status-codes)
ALREADY_ACKNOWLEDGED: Final = 40060
MISSING_ACCESS: Final = 50001
MISSING_PERMISSIONS: Final = 50013
UNKNOWN_CHANNEL: Final = 10003
UNKNOWN_GUILD: Final = 10004
UNKNOWN_MESSAGE: Final = 10008
CANNOT_DM: Final = 50007
WRONG_CHANNEL_TYPE: Final = 50024
INVALID_FORM_BODY: Final = 50035
THREAD_EXISTS: Final = 160004
THREAD_LOCKED: Final = 160005
THREAD_ARCHIVED: Final = 50083

# a thread follow-up that fails with one of these is posted as a reply instead
_THREAD_FALLBACK: Final = frozenset(
    {"missing_permissions", "missing_access", "wrong_channel_type", "unknown_message", "thread_locked"}
)

MSG_STARTING: Final = "marketbot is still starting up; try again in a minute."
MSG_NEEDS_MANAGE: Final = (
    "Changing watchlists and subscriptions needs the Manage Channels permission in this server. "
    "Ask someone who has it, or a server admin can grant it to your role."
)
MSG_OUT_OF_DATE: Final = (
    "This command's definition is out of date in Discord; marketbot updates it when it restarts. "
    "Try again in a minute."
)


# ---------------------------------------------------------------- errors


def _retry_after(exc: discord.HTTPException) -> float | None:
    headers = getattr(exc.response, "headers", None) or {}
    value = headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


def delivery_error(exc: BaseException, *, action: str, channel: int | str | None = None) -> DeliveryError:
    """Map a discord.py / aiohttp failure to a DeliveryError that says whether retrying can help.

    Missing Access (50001), Missing Permissions (50013), Unknown Channel (10003), a rejected
    token (401) and a refused message (400) are permanent; 429s that discord.py gave up on,
    5xx, timeouts and connection errors are retryable.
    """
    if isinstance(exc, DeliveryError):
        return exc
    where = f"Discord channel {channel}" if channel else "Discord"
    if isinstance(exc, discord.RateLimited):
        return DeliveryError(
            f"Discord rate-limited {action} in {where} for {exc.retry_after:.0f} s; will retry",
            retryable=True,
            retry_after=exc.retry_after,
            code="ratelimited",
        )
    if isinstance(exc, discord.HTTPException):
        status, code = exc.status, exc.code
        detail = (exc.text or "").strip().replace("\n", "; ")[:300]
        if status == 429:
            after = _retry_after(exc)
            return DeliveryError(
                f"Discord rate-limited {action} in {where}; will retry",
                retryable=True,
                retry_after=after,
                code="ratelimited",
            )
        if code == MISSING_ACCESS:
            return DeliveryError(
                f"the bot cannot see {where} (Missing Access, 50001): add the bot to that channel, or "
                "give its role View Channel there; then resubscribe",
                retryable=False,
                code="missing_access",
            )
        if code == MISSING_PERMISSIONS:
            return DeliveryError(
                f"the bot lacks a permission in {where} (Missing Permissions, 50013): give its role "
                "Send Messages, Embed Links, Attach Files, Create Public Threads and Send Messages in "
                "Threads there",
                retryable=False,
                code="missing_permissions",
            )
        if code == UNKNOWN_CHANNEL:
            return DeliveryError(
                f"{where} does not exist (Unknown Channel, 10003): it was deleted or the id is wrong; "
                "unsubscribe it or fix the channel id",
                retryable=False,
                code="unknown_channel",
            )
        if code == UNKNOWN_MESSAGE:
            return DeliveryError(
                f"the message to {action} in {where} no longer exists (Unknown Message, 10008)",
                retryable=False,
                code="unknown_message",
            )
        if code == UNKNOWN_GUILD:
            return DeliveryError(
                f"the bot is no longer in the server of {where} (Unknown Guild, 10004): invite it again "
                "with the URL from `marketbot discord invite`",
                retryable=False,
                code="unknown_guild",
            )
        if code == CANNOT_DM:
            return DeliveryError(
                f"Discord does not let the bot message that user ({where}, 50007)",
                retryable=False,
                code="cannot_dm",
            )
        if code == WRONG_CHANNEL_TYPE:
            return DeliveryError(
                f"{where} cannot take this (Cannot execute action on this channel type, 50024): "
                "subscribe a text channel",
                retryable=False,
                code="wrong_channel_type",
            )
        if code in (THREAD_LOCKED, THREAD_ARCHIVED):
            return DeliveryError(
                f"the thread in {where} is locked or archived ({code})", retryable=False, code="thread_locked"
            )
        if code == THREAD_EXISTS:
            return DeliveryError("the thread already exists", retryable=False, code="thread_exists")
        if status == 401:
            return rejected_token()
        if status >= 500:
            return DeliveryError(
                f"Discord answered HTTP {status} to {action} in {where}; will retry",
                retryable=True,
                retry_after=_retry_after(exc),
                code="server_error",
            )
        if status == 400:
            return DeliveryError(
                f"Discord refused to {action} in {where} (400, code {code}): {detail}",
                retryable=False,
                code="invalid_form_body" if code == INVALID_FORM_BODY else "bad_request",
            )
        return DeliveryError(
            f"Discord refused to {action} in {where} (HTTP {status}, code {code}): {detail}",
            retryable=status not in (403, 404),
            code=f"http_{status}",
        )
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return DeliveryError(
            f"Discord did not answer in time to {action} in {where}; will retry",
            retryable=True,
            code="timeout",
        )
    if isinstance(exc, aiohttp.ClientError | OSError):
        return DeliveryError(
            f"cannot reach Discord to {action}: {exc}; will retry", retryable=True, code="connection_error"
        )
    return DeliveryError(
        f"Discord: could not {action} in {where}: {exc!r}", retryable=True, code="unexpected"
    )


def rejected_token(how: str = "401 Unauthorized") -> CredentialsRejected:
    """Discord refuses DISCORD_BOT_TOKEN: delivery to all of Discord pauses until it works again."""
    return CredentialsRejected(
        f"Discord rejected DISCORD_BOT_TOKEN ({how}): the token was reset or the bot deleted; copy a "
        "new token from the Developer Portal (your application → Bot → Reset Token)",
        platform="discord",
        setting="DISCORD_BOT_TOKEN",
        code="unauthorized",
    )


# ---------------------------------------------------------------- endpoints and invites


def api_base(url: str | None) -> str:
    """The REST base with its API version, e.g. ``http://proxy:8080`` → ``http://proxy:8080/api/v10``."""
    if not url:
        return DEFAULT_API_URL
    url = url.strip().rstrip("/")
    if not re.match(r"^https?://[^\s/]+", url, re.IGNORECASE):
        raise ConfigError(
            f"DISCORD_API_URL={url!r} is not an http(s) URL; write e.g. https://discord.com/api/v10 "
            "or the base URL of your REST proxy"
        )
    if not re.search(r"/api/v\d+$", url):
        url += "/api/v10"
    elif not url.endswith("/api/v10"):
        raise ConfigError(f"DISCORD_API_URL={url!r}: marketbot speaks API v10; end the URL with /api/v10")
    return url


def gateway_base(url: str | None) -> str:
    """The gateway URL (``wss://…``); discord.py adds ``?v=10&encoding=json&compress=…`` itself."""
    if not url:
        return DEFAULT_GATEWAY_URL
    url = url.strip()
    if not re.match(r"^wss?://[^\s/]+", url, re.IGNORECASE):
        raise ConfigError(
            f"DISCORD_GATEWAY_URL={url!r} is not a ws:// or wss:// URL; write e.g. wss://gateway.discord.gg/"
        )
    return url


def invite_url(application_id: int) -> str:
    """The OAuth2 URL that adds the bot with its commands and exactly ``INVITE_PERMISSIONS``."""
    return discord.utils.oauth_url(application_id, permissions=INVITE_PERMISSIONS, scopes=INVITE_SCOPES)


async def fetch_application_id(token: str, *, api_url: str | None = None, timeout: float = 10.0) -> int:
    """The application (client) id of the bot token, from ``GET /oauth2/applications/@me``."""
    base = api_base(api_url)
    headers = {"Authorization": f"Bot {token.strip()}", "User-Agent": "marketbot (invite)"}
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
            session.get(f"{base}/oauth2/applications/@me", headers=headers) as resp,
        ):
            if resp.status == 401:
                raise ConfigError(
                    "Discord rejected DISCORD_BOT_TOKEN (401): copy the token from the Developer Portal "
                    "(your application → Bot → Reset Token), or pass --client-id"
                )
            if resp.status != 200:
                raise BotError(
                    f"Discord answered HTTP {resp.status} for the application; try again or pass --client-id"
                )
            data = await resp.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise BotError(
            f"cannot reach Discord at {base}: {exc or type(exc).__name__}; pass --client-id"
        ) from None
    return int(data["id"])


async def clear_guild_commands(
    token: str, guild_ids: Sequence[int], *, api_url: str | None = None, timeout: float = 10.0
) -> dict[int, str]:
    """Remove the bot's commands from servers (left behind after going back to global commands).

    Returns what happened per guild id: ``"cleared"`` or the reason it could not be.
    """
    base = api_base(api_url)
    app_id = await fetch_application_id(token, api_url=api_url, timeout=timeout)
    headers = {"Authorization": f"Bot {token.strip()}", "User-Agent": "marketbot (commands)"}
    out: dict[int, str] = {}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
            for gid in guild_ids:
                url = f"{base}/applications/{app_id}/guilds/{gid}/commands"
                async with session.put(url, json=[], headers=headers) as resp:
                    if resp.status == 200:
                        out[gid] = "cleared"
                    elif resp.status in (403, 404):
                        out[gid] = "the bot is not in that server (or lacks applications.commands there)"
                    else:
                        out[gid] = f"Discord answered HTTP {resp.status}"
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise BotError(f"cannot reach Discord at {base}: {exc or type(exc).__name__}") from None
    return out


def _nonce(key: str, purpose: str = "") -> str:
    """A stable nonce (≤ 25 characters) for an alert's idempotency key: Discord drops repeats."""
    return hashlib.blake2b(f"{key}\x00{purpose}".encode(), digest_size=12).hexdigest()


def _snowflake(value: str, what: str) -> int:
    if not value.isdigit():
        raise DeliveryError(
            f"{what} {value!r} is not a Discord id (a number like 112233445566778899)",
            retryable=False,
            code="bad_channel_id",
        )
    return int(value)


def _files(message: DiscordMessage) -> list[discord.File]:
    return [
        discord.File(io.BytesIO(a.data), filename=a.filename, description=(a.title or None))
        for a in message.attachments
    ]


def _embeds(message: DiscordMessage) -> list[discord.Embed]:
    return [discord.Embed.from_dict(e) for e in message.embeds]


def text_only(message: DiscordMessage) -> DiscordMessage:
    """The same content as plain message text: the fallback when Discord refuses an embed."""
    parts: list[str] = [message.content] if message.content else []
    for e in message.embeds:
        title = e.get("title", "")
        if title:
            parts.append(f"**{title}**" + (f" <{e['url']}>" if e.get("url") else ""))
        if e.get("description"):
            parts.append(e["description"])
        for f in e.get("fields", []):
            parts.append(f"{f['name']}: {f['value']}")
        if e.get("footer"):
            # footers are shown verbatim in an embed, but content is markdown: escape it here
            parts.append(escape(e["footer"].get("text", ""), 300))
    text = "\n".join(p for p in parts if p.strip()) or "—"
    if len(text) > CONTENT:
        text = text[: CONTENT - 1].rstrip("\\") + "…"
    return dataclasses.replace(message, content=text, embeds=())


# ---------------------------------------------------------------- discord.py glue


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


class _Tree(app_commands.CommandTree[_Client]):
    """CommandTree whose errors answer the user privately instead of vanishing into a log."""

    async def on_error(
        self, interaction: discord.Interaction[_Client], error: app_commands.AppCommandError
    ) -> None:
        if isinstance(error, app_commands.MissingPermissions):
            text = MSG_NEEDS_MANAGE
        elif isinstance(error, app_commands.CommandSignatureMismatch | app_commands.CommandNotFound):
            log.warning("Discord: %s (commands will be synced again on restart)", error)
            text = MSG_OUT_OF_DATE
        elif isinstance(error, app_commands.CheckFailure):
            text = str(error) or MSG_NEEDS_MANAGE
        else:
            log.error(
                "Discord: /%s failed",
                interaction.command.qualified_name if interaction.command else "?",
                exc_info=error,
            )
            text = "Something went wrong running that command; the error was logged for the bot's admin."
        reply = Reply(text=text, private=True, error=True)
        try:
            if interaction.response.is_done():
                await interaction.followup.send(**_kwargs(reply_message(reply)), ephemeral=True)
            else:
                await interaction.response.send_message(**_kwargs(reply_message(reply)), ephemeral=True)
        except discord.HTTPException as exc:
            log.warning("Discord: could not tell the user about an error: %s", exc)


def _kwargs(message: DiscordMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"allowed_mentions": NO_MENTIONS}
    if message.content is not None:
        out["content"] = message.content
    if message.embeds:
        out["embeds"] = _embeds(message)
    files = _files(message)
    if files:
        out["files"] = files
    return out


def _can_manage(interaction: discord.Interaction[Any]) -> bool:
    perms = interaction.permissions
    return bool(perms.administrator or perms.manage_channels)


def _require_manage(interaction: discord.Interaction[Any]) -> bool:
    """Runtime check for commands that change state (server admins may have widened who sees /watch)."""
    if _can_manage(interaction):
        return True
    raise app_commands.MissingPermissions(["manage_channels"])


# ---------------------------------------------------------------- the adapter


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
        self._followups = followups
        self._defer_after = defer_after
        self._command_timeout = command_timeout
        self._request_timeout = request_timeout
        self._connect_timeout = connect_timeout
        self._autocomplete_timeout = autocomplete_timeout
        self._max_ratelimit_timeout = max(30.0, max_ratelimit_timeout)  # discord.py's minimum
        self._grace = shutdown_grace
        self._guild_ready_timeout = guild_ready_timeout
        self._client: _Client | None = None
        self._tree: _Tree | None = None
        self._runner: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._threads: OrderedDict[int, None] = OrderedDict()
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
        if env.discord_bot_token is None:
            raise ConfigError(
                "DISCORD_BOT_TOKEN is not set: copy the bot token from the Developer Portal "
                "(your application → Bot → Reset Token)"
            )
        admins = [a for a in admins if a.startswith("discord:")]
        return cls(
            token=env.discord_bot_token.get_secret_value(),
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
        self._tree = self._build_tree(self._client)
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
        if self._tasks:
            _done, pending = await asyncio.wait(set(self._tasks), timeout=self._grace)
            for t in pending:
                t.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
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

    def _build_tree(self, client: _Client) -> _Tree:
        tree = _Tree(client)
        adapter = self

        @app_commands.command(name="quote", description="Price, change and session; a chart for one ticker")
        @app_commands.describe(tickers="One or more tickers, e.g. NVDA or AMZN MSFT")
        async def quote(
            interaction: discord.Interaction[_Client], tickers: app_commands.Range[str, 1, 200]
        ) -> None:
            await adapter._command(interaction, "quote", tickers)

        @quote.autocomplete("tickers")
        async def quote_ac(
            interaction: discord.Interaction[_Client], current: str
        ) -> list[app_commands.Choice[str]]:
            return await adapter._complete(interaction, "ticker", current, multi=True)

        @app_commands.command(name="news", description="The latest stories that mention a ticker")
        @app_commands.describe(ticker="A ticker, e.g. AMZN", count="How many stories (default 5, at most 20)")
        async def news(
            interaction: discord.Interaction[_Client],
            ticker: app_commands.Range[str, 1, 20],
            count: app_commands.Range[int, 1, 20] | None = None,
        ) -> None:
            await adapter._command(interaction, "news", f"{ticker} {count}" if count else ticker)

        @news.autocomplete("ticker")
        async def news_ac(
            interaction: discord.Interaction[_Client], current: str
        ) -> list[app_commands.Choice[str]]:
            return await adapter._complete(interaction, "ticker", current)

        guilds = [discord.Object(g) for g in self.guild_ids] or None
        commands: tuple[app_commands.Command[Any, Any, None] | app_commands.Group, ...] = (
            quote,
            news,
            self._watch_group(),
            self._feed_group(),
        )
        for command in commands:
            if guilds:
                tree.add_command(command, guilds=guilds)
            else:
                tree.add_command(command)
        return tree

    def _watch_group(self) -> app_commands.Group:
        adapter = self
        watch = app_commands.Group(
            name="watch",
            description="Watchlists and this channel's subscriptions",
            default_permissions=discord.Permissions(manage_channels=True),
            guild_only=True,
        )
        manage = app_commands.check(_require_manage)
        items_help = 'Tickers and keywords, e.g. $NVDA AMD cloud "export control" chip*'

        async def names(
            interaction: discord.Interaction[_Client], current: str
        ) -> list[app_commands.Choice[str]]:
            return await adapter._complete(interaction, "watchlist", current)

        async def run(interaction: discord.Interaction[_Client], *words: str | None) -> None:
            await adapter._command(interaction, "watch", " ".join(w for w in words if w))

        @watch.command(name="list", description="Watchlists you can subscribe to here")
        async def list_(interaction: discord.Interaction[_Client]) -> None:
            await run(interaction, "list")

        @watch.command(
            name="show", description="A watchlist's tickers, keywords, query and subscribed channels"
        )
        @app_commands.describe(name="The watchlist")
        @app_commands.autocomplete(name=names)
        async def show(interaction: discord.Interaction[_Client], name: WatchlistName) -> None:
            await run(interaction, "show", name)

        @watch.command(name="create", description="Create a watchlist of tickers and keywords")
        @app_commands.describe(name="A name: letters, digits, - and _ (e.g. cloud-china)", items=items_help)
        @manage
        async def create(interaction: discord.Interaction[_Client], name: WatchlistName, items: str) -> None:
            await run(interaction, "create", name, items)

        @watch.command(name="add", description="Add tickers or keywords to a watchlist")
        @app_commands.describe(name="The watchlist", items=items_help)
        @app_commands.autocomplete(name=names)
        @manage
        async def add(interaction: discord.Interaction[_Client], name: WatchlistName, items: str) -> None:
            await run(interaction, "add", name, items)

        @watch.command(name="remove", description="Remove tickers or keywords from a watchlist")
        @app_commands.describe(name="The watchlist", items="What to remove, as it was added")
        @app_commands.autocomplete(name=names)
        @manage
        async def remove(interaction: discord.Interaction[_Client], name: WatchlistName, items: str) -> None:
            await run(interaction, "remove", name, items)

        @watch.command(name="delete", description="Delete a watchlist made in chat")
        @app_commands.describe(name="The watchlist")
        @app_commands.autocomplete(name=names)
        @manage
        async def delete(interaction: discord.Interaction[_Client], name: WatchlistName) -> None:
            await run(interaction, "delete", name)

        @watch.command(name="query", description="Set a watchlist's boolean query")
        @app_commands.describe(name="The watchlist", query="e.g. ($AMZN OR $MSFT) AND cloud AND NOT layoffs")
        @app_commands.autocomplete(name=names)
        @manage
        async def query(interaction: discord.Interaction[_Client], name: WatchlistName, query: str) -> None:
            await run(interaction, "query", name, query)

        async def sessions_ac(
            interaction: discord.Interaction[_Client], current: str
        ) -> list[app_commands.Choice[str]]:
            return await adapter._complete(interaction, "session", current)

        def option_words(
            quiet: str | None,
            max_per_hour: int | None,
            min_move: str | None,
            sessions: str | None,
            threads: bool | None,
            briefing: str | None,
        ) -> list[str | None]:
            """The options as /watch's grammar reads them (max 0 turns the cap off)."""
            words: list[str | None] = []
            if quiet is not None:
                words += ["quiet", quiet]
            if max_per_hour is not None:
                words += ["max", f"{max_per_hour}/h" if max_per_hour else "off"]
            if min_move is not None:
                words += ["min-move", min_move]
            if sessions is not None:
                words += ["sessions", sessions]
            if threads is not None:
                words += ["threads", "on" if threads else "off"]
            if briefing is not None:
                words += ["briefing", briefing]
            return words

        option_help = {
            "quiet": "Hold alerts in this window, e.g. 22:00-06:00 (off: none)",
            "max_per_hour": "At most this many alerts an hour (0: no cap)",
            "min_move": "Move alerts from this size, e.g. 2% (off: any)",
            "sessions": "Only in these sessions, e.g. pre-market,regular (all: every session)",
            "threads": "Follow-ups in a thread under the alert",
            "briefing": "The pre-market briefing on trading days",
        }

        @watch.command(name="subscribe", description="Post this watchlist's alerts in this channel")
        @app_commands.describe(name="The watchlist", **option_help)
        @app_commands.rename(max_per_hour="max", min_move="min-move")
        @app_commands.autocomplete(name=names, sessions=sessions_ac)
        @app_commands.choices(briefing=BRIEFING_CHOICES)
        @manage
        async def subscribe(
            interaction: discord.Interaction[_Client],
            name: WatchlistName,
            quiet: OptionText | None = None,
            max_per_hour: HourlyCap | None = None,
            min_move: OptionText | None = None,
            sessions: OptionText | None = None,
            threads: bool | None = None,
            briefing: str | None = None,
        ) -> None:
            words = option_words(quiet, max_per_hour, min_move, sessions, threads, briefing)
            await run(interaction, "subscribe", name, *words)

        @watch.command(name="options", description="Show or change this channel's options for a watchlist")
        @app_commands.describe(name="The watchlist", **option_help)
        @app_commands.rename(max_per_hour="max", min_move="min-move")
        @app_commands.autocomplete(name=names, sessions=sessions_ac)
        @app_commands.choices(briefing=BRIEFING_CHOICES)
        async def options(
            interaction: discord.Interaction[_Client],
            name: WatchlistName,
            quiet: OptionText | None = None,
            max_per_hour: HourlyCap | None = None,
            min_move: OptionText | None = None,
            sessions: OptionText | None = None,
            threads: bool | None = None,
            briefing: str | None = None,
        ) -> None:
            # looking is for everyone; the handler refuses changes without Manage Channels
            words = option_words(quiet, max_per_hour, min_move, sessions, threads, briefing)
            await run(interaction, "options", name, *words)

        @watch.command(name="unsubscribe", description="Stop this watchlist's alerts in this channel")
        @app_commands.describe(name="The watchlist")
        @app_commands.autocomplete(name=names)
        @manage
        async def unsubscribe(interaction: discord.Interaction[_Client], name: WatchlistName) -> None:
            await run(interaction, "unsubscribe", name)

        @watch.command(name="subscriptions", description="This channel's subscriptions")
        async def subscriptions(interaction: discord.Interaction[_Client]) -> None:
            await run(interaction, "subscriptions")

        @watch.command(name="mute", description="Pause alerts in this channel for a while")
        @app_commands.describe(duration="e.g. 30m, 2h or 1d", name="Only this watchlist (default: all)")
        @app_commands.autocomplete(name=names)
        @manage
        async def mute(
            interaction: discord.Interaction[_Client],
            duration: app_commands.Range[str, 1, 20],
            name: WatchlistName | None = None,
        ) -> None:
            await run(interaction, "mute", duration, name)

        @watch.command(name="unmute", description="Resume alerts in this channel")
        @app_commands.describe(name="Only this watchlist (default: all)")
        @app_commands.autocomplete(name=names)
        @manage
        async def unmute(
            interaction: discord.Interaction[_Client], name: WatchlistName | None = None
        ) -> None:
            await run(interaction, "unmute", name)

        @watch.command(
            name="test", description="Which stories of the last 24 hours would have matched, and why"
        )
        @app_commands.describe(name="The watchlist")
        @app_commands.autocomplete(name=names)
        async def test(interaction: discord.Interaction[_Client], name: WatchlistName) -> None:
            await run(interaction, "test", name)

        @watch.command(
            name="status", description="Feeds with health, subscriptions, last alerts and the queue here"
        )
        async def status(interaction: discord.Interaction[_Client]) -> None:
            await run(interaction, "status")

        @watch.command(name="help", description="How to use /watch")
        @app_commands.describe(topic="A subcommand to explain")
        @app_commands.choices(
            topic=[app_commands.Choice(name=k, value=k) for k in (*WATCH_SUBCOMMANDS[:-1], "quote", "news")]
        )
        async def help_(interaction: discord.Interaction[_Client], topic: str | None = None) -> None:
            await run(interaction, "help", topic)

        return watch

    def _feed_group(self) -> app_commands.Group:
        """/feed add|list|remove|test|help: Manage Server only (also checked by the handlers)."""
        adapter = self
        feed = app_commands.Group(
            name="feed",
            description="Feeds this server polls for its watchlists",
            default_permissions=discord.Permissions(manage_guild=True),
            guild_only=True,
        )

        async def feed_names(
            interaction: discord.Interaction[_Client], current: str
        ) -> list[app_commands.Choice[str]]:
            return await adapter._complete(interaction, "feed", current)

        async def run(interaction: discord.Interaction[_Client], *words: str | None) -> None:
            await adapter._command(interaction, "feed", " ".join(w for w in words if w))

        @feed.command(name="add", description="Test a feed URL and, if it works, poll it for this server")
        @app_commands.describe(
            url="The feed's http(s) URL (RSS or Atom)",
            every="How often to poll it, e.g. 5m, 15m or 1h (default 5m)",
            name="A name for it (default: the feed's title)",
        )
        async def add(
            interaction: discord.Interaction[_Client],
            url: app_commands.Range[str, 8, 2000],
            every: app_commands.Range[str, 2, 10] | None = None,
            name: app_commands.Range[str, 1, 64] | None = None,
        ) -> None:
            await run(
                interaction, "add", url, f"every {every}" if every else None, f"name {name}" if name else None
            )

        @feed.command(name="list", description="This server's feeds with their health")
        async def list_(interaction: discord.Interaction[_Client]) -> None:
            await run(interaction, "list")

        @feed.command(name="remove", description="Stop polling a feed added here")
        @app_commands.describe(name="The feed")
        @app_commands.autocomplete(name=feed_names)
        async def remove(
            interaction: discord.Interaction[_Client], name: app_commands.Range[str, 1, 64]
        ) -> None:
            await run(interaction, "remove", name)

        @feed.command(
            name="test", description="Fetch a feed once: its newest items and what they would match"
        )
        @app_commands.describe(url="The feed's http(s) URL")
        async def test(
            interaction: discord.Interaction[_Client], url: app_commands.Range[str, 8, 2000]
        ) -> None:
            await run(interaction, "test", url)

        @feed.command(name="help", description="How to use /feed")
        @app_commands.describe(topic="A subcommand to explain")
        @app_commands.choices(topic=[app_commands.Choice(name=k, value=k) for k in FEED_SUBCOMMANDS[:-1]])
        async def help_(interaction: discord.Interaction[_Client], topic: str | None = None) -> None:
            await run(interaction, "help", topic)

        return feed

    def _context(self, interaction: discord.Interaction[Any]) -> CommandContext:
        guild = str(interaction.guild_id) if interaction.guild_id else None
        user = interaction.user
        admin = (bool(guild) and bool(interaction.permissions.administrator)) or str(user.id) in self._admins
        return CommandContext(
            platform="discord",
            channel=ChannelRef("discord", str(interaction.channel_id or ""), workspace=guild),
            user=str(user.id),
            workspace=guild,
            user_name=user.display_name,
            is_admin=admin,
            can_manage=admin or _can_manage(interaction),
            can_manage_server=admin or bool(guild and interaction.permissions.manage_guild),
        )

    def _spawn(self, coro: Awaitable[T], name: str) -> asyncio.Task[T]:
        task: asyncio.Task[T] = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _command(self, interaction: discord.Interaction[Any], command: CommandName, text: str) -> None:
        """Run a command: answer directly when it is quick, else defer and follow up."""
        sub = text.split(" ", 1)[0] if command in ("watch", "feed") else ""
        # /feed and /watch status always answer privately: defer ephemerally for them too
        private_guess = sub in ("help", "status") or command == "feed"
        me = asyncio.current_task()
        if me is not None:
            self._tasks.add(me)
        work = self._spawn(self._handle(interaction, command, text), f"discord-/{command}")
        deferred = False
        try:
            try:
                if (command, sub) in SLOW:
                    await interaction.response.defer(thinking=True, ephemeral=private_guess)
                    deferred = True
                else:
                    done, _ = await asyncio.wait({work}, timeout=self._defer_after)
                    if not done:
                        await interaction.response.defer(thinking=True, ephemeral=private_guess)
                        deferred = True
            except discord.HTTPException as exc:
                # the 3-second window passed (10062) or Discord is failing: the work still runs
                if exc.code == ALREADY_ACKNOWLEDGED:  # another gateway session of the bot answered
                    log.info("Discord /%s %s: already answered by another session", command, sub)
                else:
                    log.warning(
                        "Discord /%s %s: could not acknowledge the interaction: %s", command, sub, exc
                    )
                await asyncio.gather(work, return_exceptions=True)
                return
            reply = await work
            await self._answer(
                interaction, reply, deferred=deferred, deferred_private=private_guess, command=command
            )
        finally:
            if me is not None:
                self._tasks.discard(me)

    async def _handle(self, interaction: discord.Interaction[Any], command: CommandName, text: str) -> Reply:
        handler = self._commands
        if handler is None:
            return Reply(text=MSG_STARTING, private=True, error=True)
        try:
            ctx = self._context(interaction)
            async with asyncio.timeout(self._command_timeout):
                return await handler.handle(ctx, command, text)
        except TimeoutError:
            log.warning("Discord /%s %r took longer than %.0f s", command, text[:100], self._command_timeout)
            return Reply(
                text=f"/{command} took too long to answer; try again in a minute.", private=True, error=True
            )
        except BotError as exc:
            return Reply(text=str(exc), private=True, error=True)
        except Exception:
            log.exception("Discord /%s failed", command)
            return Reply(
                text=f"Something went wrong running /{command}; the error was logged for the bot's admin.",
                private=True,
                error=True,
            )

    async def _answer(
        self,
        interaction: discord.Interaction[Any],
        reply: Reply,
        *,
        deferred: bool,
        deferred_private: bool,
        command: str,
    ) -> None:
        message = reply_message(reply)
        for attempt in (message, text_only(message)):
            try:
                if not deferred:
                    await interaction.response.send_message(**_kwargs(attempt), ephemeral=reply.private)
                elif reply.private and not deferred_private:
                    # the "thinking…" message is public; an error or help must not be: replace it
                    with contextlib.suppress(discord.HTTPException):
                        await interaction.delete_original_response()
                    await interaction.followup.send(**_kwargs(attempt), ephemeral=True)
                else:
                    # after a defer, the first follow-up replaces the "thinking…" message
                    await interaction.followup.send(**_kwargs(attempt), ephemeral=reply.private)
                return
            except discord.HTTPException as exc:
                err = delivery_error(exc, action=f"answer /{command}", channel=interaction.channel_id)
                if err.code != "invalid_form_body" or attempt is not message:
                    log.warning("Discord /%s: could not send the answer: %s", command, err)
                    return
                log.warning("Discord /%s: the answer was refused (%s); sending it as text", command, err)
                deferred = deferred or interaction.response.is_done()

    async def _complete(
        self,
        interaction: discord.Interaction[Any],
        kind: CompleteKind,
        current: str,
        *,
        multi: bool = False,
    ) -> list[app_commands.Choice[str]]:
        """Autocomplete from the handler (at most 25, within Discord's 3 s); the last word when ``multi``."""
        handler = self._commands
        if handler is None:
            return []
        head, prefix = "", current.strip()
        if multi and " " in current.strip():
            head, _, prefix = current.strip().rpartition(" ")
            head += " "
        try:
            async with asyncio.timeout(self._autocomplete_timeout):
                options = await handler.complete(self._context(interaction), kind, prefix)
        except Exception as exc:
            log.debug("Discord autocomplete %s %r failed: %s", kind, prefix, exc)
            return []
        out: list[app_commands.Choice[str]] = []
        for option in options:
            value = (head + option)[:100]
            if value.strip() and all(c.value != value for c in out):
                out.append(app_commands.Choice(name=value, value=value))
            if len(out) == 25:
                break
        return out

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

    async def _call(self, coro: Awaitable[T], *, action: str, channel: int | str) -> T:
        try:
            async with asyncio.timeout(self._request_timeout):
                return await coro
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            err = delivery_error(exc, action=action, channel=channel)
            if isinstance(err, CredentialsRejected):
                self._rejected(err)
            raise err from exc

    async def _post(
        self,
        channel_id: int,
        message: DiscordMessage,
        *,
        nonce: str | None,
        reference: discord.MessageReference | None = None,
    ) -> discord.Message:
        """POST one message; if Discord refuses the embed itself, send the same content as text once."""
        client = self._require_client()
        channel = client.get_partial_messageable(channel_id)
        for attempt in (message, text_only(message)):
            kwargs = _kwargs(attempt)
            if nonce is not None:
                kwargs["nonce"] = nonce if attempt is message else _nonce(nonce, "text")
            if reference is not None:
                kwargs["reference"] = reference
            try:
                return await self._call(channel.send(**kwargs), action="send a message", channel=channel_id)
            except DeliveryError as err:
                if err.code != "invalid_form_body" or attempt is not message:
                    raise
                log.warning("Discord refused a message to %s (%s); sending it as text", channel_id, err)
        raise AssertionError("unreachable")

    async def send(
        self, message: Alert | Reply, *, target: ChannelRef, thread: MessageRef | None = None
    ) -> MessageRef:
        """Post to a channel; with ``thread``, in a thread on that message; with only
        ``alert.thread_of``, as a reply to that message in the channel.

        The thread is a public thread on the alert (created on first use; its id is the alert's
        message id); where threads are not allowed (permissions, channel type) it becomes a reply.
        """
        if target.platform != "discord":
            raise DeliveryError(f"{target} is not a Discord channel", retryable=False, code="wrong_platform")
        channel_id = _snowflake(target.channel, "channel id")
        rendered = self.render(message)
        nonce = _nonce(message.key) if isinstance(message, Alert) else None
        if thread is not None:
            parent_id = _snowflake(thread.thread_id or thread.id, "message id")
            return await self._send_followup(
                target, channel_id, parent_id, rendered, nonce=nonce, title=message.title
            )
        if isinstance(message, Alert) and message.thread_of:
            # no thread asked for (threads: off): a reply to the alert, in the channel
            parent_id = _snowflake(message.thread_of, "message id")
            return await self._reply_to(target, channel_id, parent_id, rendered, nonce=nonce)
        sent = await self._post(channel_id, rendered, nonce=nonce)
        return MessageRef(channel=target, id=str(sent.id))

    async def _send_followup(
        self,
        target: ChannelRef,
        channel_id: int,
        parent_id: int,
        rendered: DiscordMessage,
        *,
        nonce: str | None,
        title: str,
    ) -> MessageRef:
        if self._followups == "thread":
            try:
                await self._ensure_thread(channel_id, parent_id, title)
                sent = await self._post(parent_id, rendered, nonce=nonce)  # a thread's id is its message's id
                return MessageRef(channel=target, id=str(sent.id), thread_id=str(parent_id))
            except DeliveryError as err:
                if err.code not in _THREAD_FALLBACK:
                    raise
                log.info(
                    "Discord: no thread on %s in %s (%s); replying instead", parent_id, channel_id, err.code
                )
        return await self._reply_to(target, channel_id, parent_id, rendered, nonce=nonce)

    async def _reply_to(
        self,
        target: ChannelRef,
        channel_id: int,
        parent_id: int,
        rendered: DiscordMessage,
        *,
        nonce: str | None,
    ) -> MessageRef:
        """A reply (message_reference) to ``parent_id``; a plain message if that one is gone."""
        reference = discord.MessageReference(
            message_id=parent_id, channel_id=channel_id, fail_if_not_exists=False
        )
        sent = await self._post(
            channel_id, rendered, nonce=_nonce(nonce, "reply") if nonce else None, reference=reference
        )
        return MessageRef(channel=target, id=str(sent.id))

    async def _ensure_thread(self, channel_id: int, message_id: int, title: str) -> None:
        if message_id in self._threads:
            return
        client = self._require_client()
        name = plain(title, 100) or "Follow-ups"
        try:
            # the HTTP call rather than PartialMessage.create_thread, which needs the guild cached
            await self._call(
                client.http.start_thread_with_message(
                    channel_id, message_id, name=name, auto_archive_duration=1440
                ),
                action="start a thread",
                channel=channel_id,
            )
        except DeliveryError as err:
            if err.code != "thread_exists":
                raise
        self._threads[message_id] = None
        while len(self._threads) > 5000:
            self._threads.popitem(last=False)

    async def edit(self, ref: MessageRef, message: Alert | Reply) -> None:
        """Replace a message's content in place (late prices), with mentions still disabled."""
        client = self._require_client()
        in_thread = ref.thread_id is not None and ref.thread_id != ref.id
        channel_id = _snowflake(
            ref.thread_id if in_thread and ref.thread_id else ref.channel.channel, "channel id"
        )
        partial = client.get_partial_messageable(channel_id).get_partial_message(
            _snowflake(ref.id, "message id")
        )
        rendered = self.render(message)
        for attempt in (rendered, text_only(rendered)):
            kwargs: dict[str, Any] = {
                "content": attempt.content,
                "embeds": _embeds(attempt),
                "allowed_mentions": NO_MENTIONS,
            }
            files = _files(attempt)
            if files:
                kwargs["attachments"] = files
            try:
                await self._call(partial.edit(**kwargs), action="edit a message", channel=channel_id)
                return
            except DeliveryError as err:
                if err.code != "invalid_form_body" or attempt is not rendered:
                    raise
                log.warning("Discord refused an edit in %s (%s); sending it as text", channel_id, err)


__all__ = [
    "INVITE_PERMISSIONS",
    "INVITE_SCOPES",
    "DiscordAdapter",
    "alert_message",
    "api_base",
    "delivery_error",
    "fetch_application_id",
    "gateway_base",
    "invite_url",
    "text_only",
]

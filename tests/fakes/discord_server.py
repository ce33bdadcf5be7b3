"""A Discord on 127.0.0.1 that the real discord.py talks to: REST v10 and the gateway websocket.

It behaves like Discord where our bot can tell the difference: bot-token auth, rate-limit
headers and 429s (with ``Via`` so discord.py trusts them), Missing Access / Unknown Channel /
Missing Permissions errors with Discord's codes, embed and command validation with Discord's
limits, interaction callbacks with the 3-second acknowledgement window, deferred responses whose
first follow-up edits the "thinking" message, message nonces, threads started from messages,
and a gateway with HELLO, heartbeats, IDENTIFY → READY → GUILD_CREATE, INTERACTION_CREATE,
RECONNECT, RESUME and invalid sessions, zlib-stream compressed when asked.

Several gateway sessions of one bot (replicas that each IDENTIFY) are served as Discord serves
them: every dispatch, each interaction included, goes to every session that is still resumable
(to its live connection, or buffered for a RESUME); a bot that closes with 1000 or 1001
ends its session. The first callback to an interaction wins; any other gets HTTP 400 with
code 40060 "Interaction has already been acknowledged", so a second answer is seen, recorded
and refused.

Test-side controls let a test act as a Discord user (``slash``, ``autocomplete``), script
failures (``fail``), break channels (``Channel.hide``/``deny``/``delete``), force reconnects,
and read back every request and what a user would see (``Message.visible``).

Run standalone for manual poking: ``python -m tests.fakes.discord_server`` prints the URLs.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import re
import secrets
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

from tests.support.wait import WAIT_TIMEOUT, wait_until

DISCORD_EPOCH_MS = 1_420_070_400_000
API_PREFIX = "/api/v10"

# Permission bits (https://discord.com/developers/docs/topics/permissions)
ADMINISTRATOR = 1 << 3
MANAGE_CHANNELS = 1 << 4
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
MENTION_EVERYONE = 1 << 17
USE_APPLICATION_COMMANDS = 1 << 31
CREATE_PUBLIC_THREADS = 1 << 35
SEND_MESSAGES_IN_THREADS = 1 << 38
ALL_PERMISSIONS = (1 << 51) - 1
PERMISSION_NAMES = {
    "administrator": ADMINISTRATOR,
    "manage_channels": MANAGE_CHANNELS,
    "view_channel": VIEW_CHANNEL,
    "send_messages": SEND_MESSAGES,
    "embed_links": EMBED_LINKS,
    "attach_files": ATTACH_FILES,
    "read_message_history": READ_MESSAGE_HISTORY,
    "mention_everyone": MENTION_EVERYONE,
    "use_application_commands": USE_APPLICATION_COMMANDS,
    "create_public_threads": CREATE_PUBLIC_THREADS,
    "send_messages_in_threads": SEND_MESSAGES_IN_THREADS,
}
# What @everyone has in a new server (abridged to what matters here) plus the invite's grant.
EVERYONE_DEFAULT = VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS | ATTACH_FILES | READ_MESSAGE_HISTORY
EVERYONE_DEFAULT |= (
    MENTION_EVERYONE | USE_APPLICATION_COMMANDS | CREATE_PUBLIC_THREADS | SEND_MESSAGES_IN_THREADS
)
BOT_DEFAULT = EVERYONE_DEFAULT

# Gateway intents that need the "privileged" switch in the developer portal.
PRIVILEGED_INTENTS = {1 << 1: "GUILD_MEMBERS", 1 << 8: "GUILD_PRESENCES", 1 << 15: "MESSAGE_CONTENT"}
INTENT_GUILDS = 1 << 0

EPHEMERAL = 1 << 6
LOADING = 1 << 7

if hasattr(web, "RequestKey"):  # aiohttp >= 3.13 types request storage keys
    _BODY: Any = web.RequestKey("discord_body", object)
    _FILES: Any = web.RequestKey("discord_files", list)
else:  # the oldest aiohttp marketbot supports (3.12) takes plain string keys
    _BODY, _FILES = "discord_body", "discord_files"
_COMMAND_NAME = re.compile(r"^[-_'\w]{1,32}$")
_MENTION_RE = re.compile(r"<@!?(\d+)>|<@&(\d+)>|@(everyone|here)")


class UserCannotDoThat(AssertionError):
    """The test asked the fake to act as a user in a way Discord's client would not allow."""


@dataclass
class RecordedFile:
    field: str
    filename: str
    data: bytes
    content_type: str


@dataclass
class RecordedRequest:
    """One HTTP request as the fake received it, with what it answered."""

    method: str
    path: str
    route: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    files: list[RecordedFile]
    status: int = 0
    response: Any = None
    at: float = 0.0

    @property
    def json(self) -> dict[str, Any]:
        """The JSON body (``payload_json`` for multipart requests); {} when there was none."""
        return self.body if isinstance(self.body, dict) else {}


@dataclass
class Rendered:
    """What Discord's client shows for a piece of markdown, simplified to what tests need."""

    text: str
    mentions: list[str]
    links: list[tuple[str, str]]
    formatted: bool


def render_markdown(source: str) -> Rendered:
    """Render Discord markdown the way the client displays it: escapes hidden, mentions and links found.

    ``text`` is what a reader sees (backslash escapes and zero-width spaces removed);
    ``mentions`` are highlighted mention pills (``<@1>``, ``<@&2>``, ``<#3>``, ``@everyone``);
    ``links`` are masked links ``[label](url)``; ``formatted`` is any live markdown
    (bold, italics, strikes, spoilers, code, headings, quotes, lists).
    """
    out: list[str] = []
    mentions: list[str] = []
    links: list[tuple[str, str]] = []
    formatted = False
    i, n = 0, len(source)
    line_start = True
    while i < n:
        c = source[i]
        if c == "\\" and i + 1 < n and not source[i + 1].isalnum() and not source[i + 1].isspace():
            out.append(source[i + 1])
            i += 2
            line_start = False
            continue
        if c == "\u200b":
            i += 1
            continue
        if line_start:
            m = re.match(r"(#{1,3} |-# |> |>>> |[-*] |\d+\. )", source[i:])
            if m:
                formatted = True
        if c in "hH":  # the text rule stops before any "word:", so a URL can start anywhere
            m = re.match(r"https?://[^\s<]+[^<.,:;\"'\]\s]", source[i:], re.IGNORECASE)
            if m:  # a bare URL is shown as a link to itself; markdown inside it is not parsed
                out.append(m.group(0).replace("\u200b", ""))
                i += m.end()
                line_start = False
                continue
        if c == "[":
            m = re.match(r"\[((?:\\.|[^\]\\\n])+)\]\((https?://[^)\s]+)\)", source[i:])
            if m:
                label = render_markdown(m.group(1))
                links.append((label.text, m.group(2)))
                mentions += label.mentions
                formatted = formatted or label.formatted
                out.append(label.text)
                i += m.end()
                line_start = False
                continue
        if c in "<@":
            m = re.match(
                r"<(@!?|@&|#)(\d+)>|<t:\d+(:[tTdDfFR])?>|<a?:\w+:\d+>|</[\w -]+:\d+>|@(everyone|here)\b",
                source[i:],
            )
            if m:
                mentions.append(m.group(0))
                out.append(m.group(0))
                i += m.end()
                line_start = False
                continue
        if c in "*_~|`":
            two = source[i : i + 2]
            if (two in ("**", "__", "~~", "||") and two in source[i + 2 :]) or (
                c in "*_`" and c in source[i + 1 :]
            ):
                closing = source.find(two if two in ("**", "__", "~~", "||") else c, i + len(two))
                if closing > i + 1 and source[closing - 1] != "\\":
                    formatted = True
        out.append(c)
        line_start = c == "\n"
        i += 1
    return Rendered(text="".join(out), mentions=mentions, links=links, formatted=formatted)


def snowflake_time(snowflake: int) -> datetime:
    return datetime.fromtimestamp(((snowflake >> 22) + DISCORD_EPOCH_MS) / 1000, UTC)


def _iso(ts: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if ts is None else ts, UTC).isoformat()


class _Snowflakes:
    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def next(self) -> int:
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return (ms << 22) | (1 << 17) | (next(self._counter) & 0xFFF)


class ApiError(Exception):
    """An error response the fake sends with Discord's JSON shape."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        errors: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            out["errors"] = self.errors
        return out


def _form_error(path: Iterable[str | int], code: str, message: str) -> dict[str, Any]:
    tree: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
    for part in reversed(list(path)):
        tree = {str(part): tree}
    return tree


def _invalid(path: Iterable[str | int], code: str, message: str) -> ApiError:
    return ApiError(400, 50035, "Invalid Form Body", _form_error(path, code, message))


# ---------------------------------------------------------------- world model


@dataclass
class User:
    id: int
    username: str
    bot: bool = False
    global_name: str | None = None

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name or (None if self.bot else self.username),
            "avatar": None,
            "bot": self.bot,
            "public_flags": 0,
            "flags": 0,
        }


@dataclass
class Member:
    """A guild member acting in tests; ``permissions`` is their computed channel permission set."""

    user: User
    guild: Guild
    permissions: int = EVERYONE_DEFAULT

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def effective_permissions(self) -> int:
        return ALL_PERMISSIONS if self.permissions & ADMINISTRATOR else self.permissions

    def payload(self) -> dict[str, Any]:
        return {
            "user": self.user.payload(),
            "roles": [],
            "nick": None,
            "avatar": None,
            "premium_since": None,
            "joined_at": _iso(),
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
            "permissions": str(self.effective_permissions),
        }


@dataclass
class Channel:
    """A text channel or a public thread; break it with ``hide``, ``deny`` or ``delete``."""

    id: int
    name: str
    guild: Guild
    type: int = 0  # 0 text, 11 public thread
    parent_id: int | None = None
    bot_permissions: int = BOT_DEFAULT
    deleted: bool = False
    messages: list[Message] = field(default_factory=list)

    def hide(self) -> None:
        """The bot loses View Channel here: every call answers 403 Missing Access (50001)."""
        self.bot_permissions &= ~VIEW_CHANNEL

    def deny(self, *names: str) -> None:
        """Deny the bot permissions here, e.g. ``deny("send_messages")`` → 50013 Missing Permissions."""
        for name in names:
            self.bot_permissions &= ~PERMISSION_NAMES[name]

    def allow(self, *names: str) -> None:
        for name in names:
            self.bot_permissions |= PERMISSION_NAMES[name]

    def delete(self) -> None:
        """The channel is gone: every call answers 404 Unknown Channel (10003)."""
        self.deleted = True

    def payload(self, *, with_guild: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "name": self.name,
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "topic": None,
            "last_message_id": str(self.messages[-1].id) if self.messages else None,
            "rate_limit_per_user": 0,
            "parent_id": str(self.parent_id) if self.parent_id else None,
            "flags": 0,
        }
        if with_guild:
            out["guild_id"] = str(self.guild.id)
        if self.type == 11:
            out.update(
                owner_id=str(self.guild.fake.bot.id),
                message_count=len(self.messages),
                member_count=1,
                thread_metadata={
                    "archived": False,
                    "auto_archive_duration": 1440,
                    "archive_timestamp": _iso(),
                    "locked": False,
                },
            )
        return out


@dataclass
class Guild:
    id: int
    name: str
    fake: DiscordFake
    channels: dict[int, Channel] = field(default_factory=dict)
    members: dict[int, Member] = field(default_factory=dict)
    commands_scope: bool = True  # invited with applications.commands

    def add_channel(self, name: str, *, channel_id: int | None = None) -> Channel:
        ch = Channel(id=channel_id or self.fake.ids.next(), name=name, guild=self)
        self.channels[ch.id] = ch
        self.fake._channels[ch.id] = ch
        return ch

    def add_member(
        self,
        username: str,
        *,
        permissions: int = EVERYONE_DEFAULT,
        manage_channels: bool = False,
        admin: bool = False,
    ) -> Member:
        perms = permissions | (MANAGE_CHANNELS if manage_channels else 0) | (ADMINISTRATOR if admin else 0)
        member = Member(user=User(self.fake.ids.next(), username), guild=self, permissions=perms)
        self.members[member.id] = member
        return member

    def payload(self) -> dict[str, Any]:
        bot = self.fake.bot
        everyone_role = {
            "id": str(self.id),
            "name": "@everyone",
            "permissions": str(EVERYONE_DEFAULT),
            "position": 0,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "flags": 0,
            "icon": None,
            "unicode_emoji": None,
        }
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "owner_id": str(next(iter(self.members), bot.id)),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [everyone_role],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "vanity_url_code": None,
            "description": None,
            "banner": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "public_updates_channel_id": None,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "joined_at": _iso(),
            "large": False,
            "unavailable": False,
            "member_count": len(self.members) + 1,
            "voice_states": [],
            "members": [{**Member(bot, self, BOT_DEFAULT).payload()}],
            "channels": [
                c.payload(with_guild=False) for c in self.channels.values() if c.type != 11 and not c.deleted
            ],
            "threads": [c.payload() for c in self.channels.values() if c.type == 11 and not c.deleted],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "lazy": True,
        }


@dataclass
class Message:
    """A message as stored by Discord, plus what the request that made it looked like."""

    id: int
    channel: Channel | None
    payload: dict[str, Any]
    request: dict[str, Any]
    files: list[RecordedFile]
    pinged: list[str]
    ephemeral: bool = False
    loading: bool = False
    deleted: bool = False
    nonce: str | None = None
    created: float = field(default_factory=time.monotonic)
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def content(self) -> str:
        return str(self.payload.get("content") or "")

    @property
    def embeds(self) -> list[dict[str, Any]]:
        return list(self.payload.get("embeds") or [])

    @property
    def attachments(self) -> list[dict[str, Any]]:
        return list(self.payload.get("attachments") or [])

    @property
    def allowed_mentions(self) -> dict[str, Any] | None:
        return self.request.get("allowed_mentions")

    @property
    def edited(self) -> bool:
        return self.payload.get("edited_timestamp") is not None

    def visible(self) -> list[Rendered]:
        """Every markdown-rendered part of the message as a reader sees it (content, titles, fields)."""
        parts = [self.content] if self.content else []
        for e in self.embeds:
            parts += [e.get("title", ""), e.get("description", "")]
            for f in e.get("fields", []):
                parts += [f.get("name", ""), f.get("value", "")]
        return [render_markdown(p) for p in parts if p]

    def visible_text(self) -> str:
        """Everything a reader sees, markdown rendered, including plain-text footers and authors."""
        out = [r.text for r in self.visible()]
        for e in self.embeds:
            if e.get("author"):
                out.append(e["author"].get("name", ""))
            if e.get("footer"):
                out.append(e["footer"].get("text", ""))
        return "\n".join(out)

    def file(self, name: str) -> bytes:
        for f in self.files:
            if f.filename == name:
                return f.data
        raise KeyError(name)


@dataclass
class Interaction:
    """An interaction the fake sent (a user ran a slash command or typed into an option)."""

    id: int
    token: str
    type: int  # 2 command, 4 autocomplete
    payload: dict[str, Any]
    guild: Guild | None
    channel: Channel
    member: Member
    created: float = field(default_factory=time.monotonic)
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    original: Message | None = None
    followups: list[Message] = field(default_factory=list)
    choices: list[dict[str, Any]] | None = None
    fake: DiscordFake | None = None

    @property
    def acknowledged(self) -> bool:
        return bool(self.callbacks)

    @property
    def deferred(self) -> bool:
        return any(cb["type"] == 5 for cb in self.callbacks)

    def replies(self) -> list[Message]:
        """Messages the user can see as the answer (loading placeholders and deleted ones excluded)."""
        msgs = ([self.original] if self.original else []) + self.followups
        return [m for m in msgs if not m.loading and not m.deleted]

    async def reply(self, timeout: float = WAIT_TIMEOUT) -> Message:
        """Wait for the answer a user would see (the response, or the deferred message's final form)."""
        assert self.fake is not None
        await self.fake.wait_for(
            lambda: bool(self.replies()), timeout=timeout, what=f"a reply to interaction {self.id}"
        )
        return self.replies()[0]

    async def ack(self, timeout: float = WAIT_TIMEOUT) -> dict[str, Any]:
        """Wait for the interaction callback (the initial response, a defer or autocomplete choices)."""
        assert self.fake is not None
        await self.fake.wait_for(
            lambda: bool(self.callbacks), timeout=timeout, what=f"a callback for {self.id}"
        )
        return self.callbacks[0]


@dataclass
class _Failure:
    route: str
    status: int
    times: int
    retry_after: float
    is_global: bool
    code: int
    message: str
    channel_id: int | None
    scope: str


@dataclass
class _Bucket:
    limit: int
    per: float
    reset_at: float = 0.0
    used: int = 0


@dataclass
class GatewaySession:
    id: str
    intents: int
    seq: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    resumable: bool = True


@dataclass
class GatewayConnection:
    path: str
    query: dict[str, str]
    compressed: bool
    ws: web.WebSocketResponse
    compressor: Any = None
    session: GatewaySession | None = None
    heartbeats: int = 0
    identified: bool = False
    resumed: bool = False
    identified_at: float | None = None  # time.monotonic() of the READY that opened its session
    close_code: int | None = None
    closed_by_server: bool = False
    received: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class World:
    guild: Guild
    channel: Channel
    moderator: Member
    member: Member


# ---------------------------------------------------------------- the server


class DiscordFake:
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

    # ------------------------------------------------------------ acting as a user

    def _find_command(self, guild: Guild | None, name: str) -> tuple[dict[str, Any], int | None]:
        if guild is not None:
            for cmd in self.guild_commands.get(guild.id, []):
                if cmd["name"] == name and cmd.get("type", 1) == 1:
                    return cmd, guild.id
        for cmd in self.global_commands:
            if cmd["name"] == name and cmd.get("type", 1) == 1:
                if guild is None and cmd.get("contexts") is not None and 1 not in cmd["contexts"]:
                    continue
                return cmd, None
        where = f"guild {guild.id}" if guild else "DMs"
        raise UserCannotDoThat(f"/{name} is not registered for {where}; the bot has not synced it")

    def _build_options(
        self, params: list[dict[str, Any]], values: dict[str, Any], focused: str | None
    ) -> list[dict[str, Any]]:
        known = {p["name"]: p for p in params}
        for key in values:
            if key not in known:
                raise UserCannotDoThat(f"there is no option {key!r}; options are {sorted(known)}")
        out: list[dict[str, Any]] = []
        for p in params:
            if p["name"] not in values:
                if p.get("required") and focused is None:
                    raise UserCannotDoThat(f"option {p['name']!r} is required")
                continue
            value = values[p["name"]]
            is_focused = p["name"] == focused
            if is_focused:
                if not p.get("autocomplete"):
                    raise UserCannotDoThat(f"option {p['name']!r} has no autocomplete")
                out.append({"name": p["name"], "type": p["type"], "value": str(value), "focused": True})
                continue
            kind = p["type"]
            if kind == 3:
                if not isinstance(value, str):
                    raise UserCannotDoThat(f"option {p['name']!r} takes text")
                if not p.get("min_length", 0) <= len(value) <= p.get("max_length", 6000):
                    raise UserCannotDoThat(f"option {p['name']!r} length is out of bounds")
            elif kind == 4:
                if not isinstance(value, int) or isinstance(value, bool):
                    raise UserCannotDoThat(f"option {p['name']!r} takes a whole number")
            elif kind == 10:
                if not isinstance(value, int | float):
                    raise UserCannotDoThat(f"option {p['name']!r} takes a number")
            elif kind == 5 and not isinstance(value, bool):
                raise UserCannotDoThat(f"option {p['name']!r} takes true or false")
            low, high = p.get("min_value"), p.get("max_value")
            if kind in (4, 10) and ((low is not None and value < low) or (high is not None and value > high)):
                raise UserCannotDoThat(f"option {p['name']!r} is out of range")
            if p.get("choices") and value not in [c["value"] for c in p["choices"]]:
                raise UserCannotDoThat(f"option {p['name']!r} must be one of its choices")
            out.append({"name": p["name"], "type": kind, "value": value})
        return out

    def _interaction_payload(
        self,
        kind: int,
        guild: Guild | None,
        channel: Channel,
        member: Member,
        command: str,
        options: dict[str, Any],
        focused: str | None,
        bypass_permissions: bool,
    ) -> Interaction:
        parts = command.strip().lstrip("/").split()
        if not parts:
            raise UserCannotDoThat("empty command")
        cmd, cmd_guild = self._find_command(guild, parts[0])
        dmp = cmd.get("default_member_permissions")
        if guild is not None and dmp is not None and not bypass_permissions:
            need = int(dmp)
            have = member.effective_permissions
            if (need == 0 and not have & ADMINISTRATOR) or (need and have & need != need):
                raise UserCannotDoThat(
                    f"/{parts[0]} is hidden from {member.user.username}: it needs permissions {need} by default"
                )
        params = cmd.get("options", [])
        top: list[dict[str, Any]] = []
        container = top
        for sub in parts[1:]:
            match = next((o for o in params if o["name"] == sub and o["type"] in (1, 2)), None)
            if match is None:
                raise UserCannotDoThat(f"/{command}: no subcommand {sub!r}")
            node: dict[str, Any] = {"name": sub, "type": match["type"], "options": []}
            container.append(node)
            container = node["options"]
            params = match.get("options", [])
        if any(o["type"] in (1, 2) for o in params):
            raise UserCannotDoThat(f"/{command} needs a subcommand")
        container.extend(self._build_options(params, options, focused))
        interaction_id = self.ids.next()
        token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(48)
        data: dict[str, Any] = {"id": cmd["id"], "name": cmd["name"], "type": 1, "options": top}
        if cmd_guild is not None:
            data["guild_id"] = str(cmd_guild)
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": kind,
            "data": data,
            "channel_id": str(channel.id),
            "channel": {**channel.payload(), "permissions": str(member.effective_permissions)},
            "token": token,
            "version": 1,
            "app_permissions": str(channel.bot_permissions),
            "locale": "en-US",
            "entitlements": [],
            "attachment_size_limit": 10 * 1024 * 1024,
            "context": 0 if guild else 1,
            "authorizing_integration_owners": {"0": str(guild.id)} if guild else {"1": str(member.id)},
        }
        if guild is not None:
            payload.update(
                guild_id=str(guild.id),
                guild={"id": str(guild.id), "locale": "en-US", "features": []},
                guild_locale="en-US",
                member=member.payload(),
            )
        else:
            payload["user"] = member.user.payload()
        ix = Interaction(
            id=interaction_id,
            token=token,
            type=kind,
            payload=payload,
            guild=guild,
            channel=channel,
            member=member,
            fake=self,
        )
        self.interactions[interaction_id] = ix
        return ix

    async def slash(
        self,
        member: Member,
        channel: Channel,
        command: str,
        *,
        bypass_permissions: bool = False,
        **options: Any,
    ) -> Interaction:
        """``member`` runs ``/command sub`` with ``options`` in ``channel``, as Discord's client would send it.

        Raises UserCannotDoThat when the client would not let the user (command not synced,
        hidden by ``default_member_permissions`` unless ``bypass_permissions`` — a server admin's
        override in Integrations — or options that do not fit the command's definition).
        """
        guild = channel.guild
        ix = self._interaction_payload(2, guild, channel, member, command, options, None, bypass_permissions)
        await self.dispatch("INTERACTION_CREATE", ix.payload)
        return ix

    async def autocomplete(
        self,
        member: Member,
        channel: Channel,
        command: str,
        *,
        focused: str,
        timeout: float = WAIT_TIMEOUT,
        **options: Any,
    ) -> list[dict[str, Any]]:
        """``member`` types into option ``focused``; returns the choices the bot offered."""
        ix = self._interaction_payload(4, channel.guild, channel, member, command, options, focused, False)
        await self.dispatch("INTERACTION_CREATE", ix.payload)
        await self.wait_for(lambda: ix.choices is not None, timeout=timeout, what="autocomplete choices")
        assert ix.choices is not None
        return ix.choices

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

    # ------------------------------------------------------------ HTTP plumbing

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
        # discord.py parses JSON only when the content type is exactly "application/json"
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        if status == 204:
            return web.Response(status=204, headers={k: v for k, v in hdrs.items() if k != "Content-Type"})
        return web.Response(status=status, body=json.dumps(body).encode(), headers=hdrs)

    def _bucket_for(self, route: str, request: web.Request) -> tuple[str, _Bucket]:
        major = request.match_info.get("channel_id") or request.match_info.get("guild_id") or ""
        if route == "POST /channels/{channel_id}/messages":
            limit, per = self.message_rate
        elif route.startswith("POST /interactions") or "/webhooks/" in route:
            limit, per = 50, 1.0
        else:
            limit, per = 50, 1.0
        key = f"{route}:{major}"
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(limit, per)
        return hashlib.sha1(route.encode()).hexdigest()[:16], bucket

    def _ratelimit_headers(self, bucket_hash: str, bucket: _Bucket, now: float) -> dict[str, str]:
        reset_after = max(0.0, bucket.reset_at - now)
        return {
            "X-RateLimit-Bucket": bucket_hash,
            "X-RateLimit-Limit": str(bucket.limit),
            "X-RateLimit-Remaining": str(max(0, bucket.limit - bucket.used)),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
        }

    @staticmethod
    def _rate_limited(
        retry_after: float, *, is_global: bool, scope: str, headers: dict[str, str]
    ) -> web.Response:
        body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": is_global}
        hdrs = {
            "Content-Type": "application/json",
            "Retry-After": str(max(1, int(retry_after + 0.999))),
            "X-RateLimit-Scope": scope,
            "Via": "1.1 google",  # discord.py treats a 429 without Via as a Cloudflare ban
            **headers,
        }
        if is_global:
            hdrs["X-RateLimit-Global"] = "true"
        return web.Response(status=429, body=json.dumps(body).encode(), headers=hdrs)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
        if request.path.startswith("/gateway") or request.path.startswith("/attachments/"):
            return await handler(request)  # type: ignore[no-any-return]
        resource = request.match_info.route.resource
        template = resource.canonical if resource is not None else request.path
        route = template[len(API_PREFIX) :] if template.startswith(API_PREFIX) else template
        body, files = await self._read_body(request)
        rec = RecordedRequest(
            method=request.method,
            path=request.path,
            route=route,
            query=dict(request.query),
            headers=dict(request.headers),
            body=body,
            files=files,
            at=time.monotonic(),
        )
        self.requests.append(rec)
        request[_BODY] = body
        request[_FILES] = files
        key = f"{request.method} {route}"
        now = time.monotonic()
        bucket_hash, bucket = self._bucket_for(key, request)
        if now >= bucket.reset_at:
            bucket.reset_at, bucket.used = now + bucket.per, 0
        try:
            failure = self._match_failure(key, request)
            if failure is not None:
                if failure.status == 429:
                    hdrs = self._ratelimit_headers(bucket_hash, bucket, now)
                    hdrs["X-RateLimit-Remaining"] = "0"
                    hdrs["X-RateLimit-Reset-After"] = f"{failure.retry_after:.3f}"
                    resp: web.Response = self._rate_limited(
                        failure.retry_after, is_global=failure.is_global, scope=failure.scope, headers=hdrs
                    )
                else:
                    resp = self._json(failure.status, {"message": failure.message, "code": failure.code})
            elif not self._authorised(request, route):
                resp = self._json(401, {"message": "401: Unauthorized", "code": 0})
            elif bucket.used >= bucket.limit:
                hdrs = self._ratelimit_headers(bucket_hash, bucket, now)
                resp = self._rate_limited(bucket.reset_at - now, is_global=False, scope="user", headers=hdrs)
            else:
                bucket.used += 1
                try:
                    resp = await handler(request)
                except ApiError as err:
                    resp = self._json(err.status, err.body(), err.headers)
                resp.headers.update(self._ratelimit_headers(bucket_hash, bucket, now))
        except BaseException:
            await self._notify()
            raise
        rec.status = resp.status
        if resp.body is not None and resp.content_type == "application/json":
            with contextlib.suppress(ValueError, TypeError):
                rec.response = json.loads(resp.body)  # type: ignore[arg-type]
        await self._notify()
        return resp

    def _authorised(self, request: web.Request, route: str) -> bool:
        if route.startswith(("/interactions/", "/webhooks/")):
            return True  # authorised by the interaction token in the path
        return request.headers.get("Authorization") == f"Bot {self.token}"

    def _match_failure(self, key: str, request: web.Request) -> _Failure | None:
        for f in self._failures:
            if f.times <= 0 or f.route != key:
                continue
            if f.channel_id is not None and request.match_info.get("channel_id") != str(f.channel_id):
                continue
            f.times -= 1
            return f
        return None

    async def _read_body(self, request: web.Request) -> tuple[Any, list[RecordedFile]]:
        files: list[RecordedFile] = []
        if request.content_type.startswith("multipart/"):
            body: Any = None
            reader = await request.multipart()
            async for part in reader:
                if part.name == "payload_json":  # type: ignore[union-attr]
                    body = json.loads(await part.text())  # type: ignore[union-attr]
                else:
                    data = await part.read()  # type: ignore[union-attr]
                    files.append(
                        RecordedFile(
                            field=part.name or "",  # type: ignore[union-attr]
                            filename=part.filename or "",  # type: ignore[union-attr]
                            data=bytes(data),
                            content_type=part.headers.get("Content-Type", ""),  # type: ignore[union-attr]
                        )
                    )
            return body, files
        raw = await request.read()
        if not raw:
            return None, files
        if request.content_type != "application/json":
            return raw.decode("utf-8", "replace"), files
        try:
            return json.loads(raw), files
        except ValueError:
            return raw.decode("utf-8", "replace"), files

    async def _not_found(self, request: web.Request) -> web.Response:
        return self._json(404, {"message": "404: Not Found", "code": 0})

    # ------------------------------------------------------------ REST: identity

    async def _users_me(self, request: web.Request) -> web.Response:
        return self._json(
            200, {**self.bot.payload(), "verified": True, "mfa_enabled": False, "locale": "en-US"}
        )

    async def _application_me(self, request: web.Request) -> web.Response:
        return self._json(
            200,
            {
                "id": str(self.application_id),
                "name": "marketbot",
                "icon": None,
                "description": "Market-news alerts",
                "rpc_origins": [],
                "bot_public": False,
                "bot_require_code_grant": False,
                "bot": self.bot.payload(),
                "terms_of_service_url": None,
                "privacy_policy_url": None,
                "owner": {**User(self.ids.next(), "owner").payload()},
                "verify_key": secrets.token_hex(32),
                "team": None,
                "guild_id": None,
                "flags": 0,
                "tags": [],
                "install_params": None,
                "custom_install_url": None,
                "role_connections_verification_url": None,
                "approximate_guild_count": len(self.guilds),
                "interactions_endpoint_url": None,
                "redirect_uris": [],
                "integration_types_config": {"0": {}},
            },
        )

    async def _get_gateway(self, request: web.Request) -> web.Response:
        return self._json(200, {"url": self.gateway_url})

    # ------------------------------------------------------------ REST: application commands

    def _guild_for_commands(self, request: web.Request) -> Guild | None:
        if request.match_info["application_id"] != str(self.application_id):
            raise ApiError(403, 50001, "Missing Access")
        gid = request.match_info.get("guild_id")
        if gid is None:
            return None
        guild = self.guilds.get(int(gid)) if gid.isdigit() else None
        if guild is None:
            raise ApiError(404, 10004, "Unknown Guild")
        if not guild.commands_scope:
            raise ApiError(403, 50001, "Missing Access")
        return guild

    async def _get_commands(self, request: web.Request) -> web.Response:
        guild = self._guild_for_commands(request)
        return self._json(200, self.commands(guild.id if guild else None))

    async def _put_commands(self, request: web.Request) -> web.Response:
        guild = self._guild_for_commands(request)
        body = request[_BODY]
        if not isinstance(body, list):
            raise _invalid([], "LIST_TYPE_CONVERT", "Must be an array.")
        if len(body) > 110:
            raise _invalid([], "BASE_TYPE_MAX_LENGTH", "Must be 110 or fewer in length.")
        existing = {c["name"]: c for c in self.commands(guild.id if guild else None)}
        seen: set[tuple[str, int]] = set()
        created: list[dict[str, Any]] = []
        for i, cmd in enumerate(body):
            _validate_command(cmd, i)
            key = (cmd["name"], cmd.get("type", 1))
            if key in seen:
                raise _invalid(
                    [i, "name"],
                    "APPLICATION_COMMANDS_DUPLICATE_NAME",
                    f"Application command names must be unique: {cmd['name']}",
                )
            seen.add(key)
            old = existing.get(cmd["name"])
            stored = {
                "id": old["id"] if old else str(self.ids.next()),
                "application_id": str(self.application_id),
                "version": str(self.ids.next()),
                "type": cmd.get("type", 1),
                "name": cmd["name"],
                "name_localizations": cmd.get("name_localizations"),
                "description": cmd.get("description", ""),
                "description_localizations": cmd.get("description_localizations"),
                "default_member_permissions": (
                    None
                    if cmd.get("default_member_permissions") is None
                    else str(cmd["default_member_permissions"])
                ),
                "dm_permission": cmd.get("dm_permission", True),
                "contexts": cmd.get("contexts"),
                "integration_types": cmd.get("integration_types") or [0],
                "nsfw": cmd.get("nsfw", False),
                "options": _normalise_options(cmd.get("options") or []),
            }
            if guild is not None:
                stored["guild_id"] = str(guild.id)
            created.append(stored)
        if guild is None:
            self.global_commands = created
        else:
            self.guild_commands[guild.id] = created
        self.command_syncs.append((guild.id if guild else None, created))
        return self._json(200, created)

    # ------------------------------------------------------------ REST: channels and messages

    def _channel_for_bot(self, request: web.Request, need: int = 0) -> Channel:
        cid = request.match_info["channel_id"]
        ch = self._channels.get(int(cid)) if cid.isdigit() else None
        if ch is None or ch.deleted:
            raise ApiError(404, 10003, "Unknown Channel")
        if not ch.bot_permissions & VIEW_CHANNEL:
            raise ApiError(403, 50001, "Missing Access")
        if need and ch.bot_permissions & need != need:
            raise ApiError(403, 50013, "Missing Permissions")
        return ch

    async def _get_channel(self, request: web.Request) -> web.Response:
        return self._json(200, self._channel_for_bot(request).payload())

    def _message_in(self, ch: Channel, message_id: str) -> Message:
        for m in ch.messages:
            if str(m.id) == message_id and not m.deleted:
                return m
        raise ApiError(404, 10008, "Unknown Message")

    async def _get_message(self, request: web.Request) -> web.Response:
        ch = self._channel_for_bot(request, READ_MESSAGE_HISTORY)
        return self._json(200, self._message_in(ch, request.match_info["message_id"]).payload)

    async def _create_message(self, request: web.Request) -> web.Response:
        cid = request.match_info["channel_id"]
        target = self._channels.get(int(cid)) if cid.isdigit() else None
        send = SEND_MESSAGES_IN_THREADS if target is not None and target.type == 11 else SEND_MESSAGES
        ch = self._channel_for_bot(request, send)
        body = request[_BODY] or {}
        if not isinstance(body, dict):
            raise _invalid([], "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
        files = request[_FILES]
        if files and not ch.bot_permissions & ATTACH_FILES:
            raise ApiError(403, 50013, "Missing Permissions")
        nonce = body.get("nonce")
        if nonce is not None:
            if len(str(nonce)) > 25:
                raise _invalid(["nonce"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
            if body.get("enforce_nonce"):
                for m in ch.messages:
                    if m.nonce == str(nonce) and time.monotonic() - m.created < self.nonce_window:
                        return self._json(200, m.payload)
        reference = body.get("message_reference")
        referenced: Message | None = None
        if reference:
            if not ch.bot_permissions & READ_MESSAGE_HISTORY:
                raise ApiError(403, 50013, "Missing Permissions")
            ref_channel = str(reference.get("channel_id") or ch.id)
            try:
                referenced = self._message_in(
                    self._channels[int(ref_channel)], str(reference.get("message_id"))
                )
            except (ApiError, KeyError, ValueError):
                if reference.get("fail_if_not_exists", True):
                    raise _invalid(
                        ["message_reference"], "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message"
                    ) from None
        msg = self._build_message(ch, body, files, strip_embeds=not ch.bot_permissions & EMBED_LINKS)
        if referenced is not None:
            msg.payload["type"] = 19
            msg.payload["message_reference"] = {
                "type": 0,
                "message_id": str(referenced.id),
                "channel_id": str(ch.id),
                "guild_id": str(ch.guild.id),
            }
            msg.payload["referenced_message"] = referenced.payload
        ch.messages.append(msg)
        return self._json(200, msg.payload)

    def _build_message(
        self,
        ch: Channel | None,
        body: dict[str, Any],
        files: list[RecordedFile],
        *,
        strip_embeds: bool = False,
        message_id: int | None = None,
        interaction: Interaction | None = None,
    ) -> Message:
        content = body.get("content") or ""
        if not isinstance(content, str):
            content = str(content)
        if len(content) > 2000:
            raise _invalid(["content"], "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.")
        embeds = body.get("embeds") or []
        _validate_embeds(embeds)
        allowed = body.get("allowed_mentions")
        _validate_allowed_mentions(allowed)
        attachments = self._attachments(ch, body, files)
        if (
            not content
            and not embeds
            and not attachments
            and not body.get("sticker_ids")
            and not body.get("poll")
        ):
            raise ApiError(400, 50006, "Cannot send an empty message")
        mid = message_id or self.ids.next()
        names = {a["filename"] for a in attachments}
        rendered_embeds = [] if strip_embeds else [_normalise_embed(e, names, attachments) for e in embeds]
        pinged, everyone = self._pings(ch, content, allowed)
        flags = int(body.get("flags") or 0)
        payload: dict[str, Any] = {
            "id": str(mid),
            "channel_id": str(ch.id if ch else interaction.channel.id if interaction else 0),
            "author": self.bot.payload(),
            "content": content,
            "timestamp": snowflake_time(mid).isoformat(),
            "edited_timestamp": None,
            "tts": bool(body.get("tts")),
            "mention_everyone": everyone,
            "mentions": [
                {"id": p[2:-1].lstrip("!")} for p in pinged if p.startswith("<@") and not p.startswith("<@&")
            ],
            "mention_roles": [p[3:-1] for p in pinged if p.startswith("<@&")],
            "attachments": attachments,
            "embeds": rendered_embeds,
            "pinned": False,
            "type": 20 if interaction else 0,
            "flags": flags,
            "components": [],
        }
        if body.get("nonce") is not None:
            payload["nonce"] = str(body["nonce"])
        if interaction is not None:
            payload["webhook_id"] = str(self.application_id)
            payload["application_id"] = str(self.application_id)
            payload["interaction_metadata"] = {
                "id": str(interaction.id),
                "type": 2,
                "user": interaction.member.user.payload(),
                "authorizing_integration_owners": interaction.payload.get(
                    "authorizing_integration_owners", {}
                ),
            }
        return Message(
            id=mid,
            channel=ch,
            payload=payload,
            request=dict(body),
            files=list(files),
            pinged=pinged,
            ephemeral=bool(flags & EPHEMERAL),
            nonce=str(body["nonce"]) if body.get("nonce") is not None else None,
        )

    def _attachments(
        self, ch: Channel | None, body: dict[str, Any], files: list[RecordedFile]
    ) -> list[dict[str, Any]]:
        by_index = {}
        for f in files:
            m = re.fullmatch(r"files\[(\d+)\]", f.field)
            if not m:
                raise _invalid(["files"], "BASE_TYPE_BAD", f"Unexpected form field {f.field!r}")
            if len(f.data) > 10 * 1024 * 1024:
                raise ApiError(413, 40005, "Request entity too large")
            by_index[int(m.group(1))] = f
        out = []
        described = {int(a["id"]): a for a in body.get("attachments") or [] if str(a.get("id", "")).isdigit()}
        for idx, f in sorted(by_index.items()):
            aid = self.ids.next()
            filename = described.get(idx, {}).get("filename") or f.filename
            url = f"{self.base_url}/attachments/{ch.id if ch else 0}/{aid}/{filename}"
            out.append(
                {
                    "id": str(aid),
                    "filename": filename,
                    "size": len(f.data),
                    "url": url,
                    "proxy_url": url,
                    "content_type": "image/png"
                    if f.data.startswith(b"\x89PNG")
                    else "application/octet-stream",
                    "description": described.get(idx, {}).get("description"),
                    "_data_index": idx,
                }
            )
        for a in out:
            a.pop("_data_index")
        return out

    def _pings(
        self, ch: Channel | None, content: str, allowed: dict[str, Any] | None
    ) -> tuple[list[str], bool]:
        """Who Discord would notify for ``content`` (embeds never ping) under ``allowed_mentions``."""
        if allowed is None:
            parse = {"users", "roles", "everyone"}
            users: set[str] = set()
            roles: set[str] = set()
        else:
            parse = set(allowed.get("parse") or [])
            users = {str(u) for u in allowed.get("users") or []}
            roles = {str(r) for r in allowed.get("roles") or []}
        can_everyone = ch is None or bool(ch.bot_permissions & MENTION_EVERYONE)
        pinged: list[str] = []
        everyone = False
        for m in _MENTION_RE.finditer(content):
            user, role, special = m.groups()
            if user and ("users" in parse or user in users):
                pinged.append(f"<@{user}>")
            elif role and ("roles" in parse or role in roles):
                pinged.append(f"<@&{role}>")
            elif special and "everyone" in parse and can_everyone:
                pinged.append(f"@{special}")
                everyone = True
        return pinged, everyone

    async def _edit_message(self, request: web.Request) -> web.Response:
        ch = self._channel_for_bot(request)
        msg = self._message_in(ch, request.match_info["message_id"])
        if msg.payload["author"]["id"] != str(self.bot.id):
            raise ApiError(403, 50005, "Cannot edit a message authored by another user")
        body = request[_BODY] or {}
        self._apply_edit(msg, ch, body, request[_FILES])
        return self._json(200, msg.payload)

    def _apply_edit(
        self, msg: Message, ch: Channel | None, body: dict[str, Any], files: list[RecordedFile]
    ) -> None:
        merged = {
            "content": msg.payload.get("content"),
            "embeds": msg.request.get("embeds") or [],
            "allowed_mentions": msg.request.get("allowed_mentions"),
            "flags": msg.payload.get("flags", 0) & ~LOADING,
        }
        for key in ("content", "embeds", "allowed_mentions", "flags"):
            if key in body:
                merged[key] = (
                    body[key]
                    if key != "flags"
                    else (int(body[key] or 0) | (msg.payload["flags"] & EPHEMERAL))
                )
        keep_ids = None
        if "attachments" in body:
            # existing attachments are listed by snowflake id; new files by their upload index
            keep_ids = {str(a["id"]) for a in body["attachments"] or [] if int(a["id"]) >= 1 << 22}
        kept = [a for a in msg.attachments if keep_ids is None or a["id"] in keep_ids]
        kept_files = [f for f in msg.files if any(a["filename"] == f.filename for a in kept)]
        new = (
            self._build_message(ch, merged, files, message_id=msg.id)
            if (merged.get("content") or merged.get("embeds") or files or kept)
            else None
        )
        if new is None:
            raise ApiError(400, 50006, "Cannot send an empty message")
        msg.history.append(dict(msg.payload))
        attachments = kept + new.attachments
        names = {a["filename"] for a in attachments}
        msg.payload.update(
            content=new.payload["content"],
            embeds=[_normalise_embed(e, names, attachments) for e in merged.get("embeds") or []],
            attachments=attachments,
            edited_timestamp=None if msg.loading else _iso(),
            flags=merged["flags"],
            mention_everyone=new.payload["mention_everyone"],
        )
        msg.request = {**msg.request, **body}
        msg.files = kept_files + list(files)
        msg.pinged = new.pinged
        msg.loading = False

    async def _delete_message(self, request: web.Request) -> web.Response:
        ch = self._channel_for_bot(request)
        msg = self._message_in(ch, request.match_info["message_id"])
        msg.deleted = True
        return self._json(204, None)

    async def _start_thread(self, request: web.Request) -> web.Response:
        ch = self._channel_for_bot(request, CREATE_PUBLIC_THREADS)
        if ch.type == 11:
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        msg = self._message_in(ch, request.match_info["message_id"])
        body = request[_BODY] or {}
        name = body.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= 100:
            raise _invalid(["name"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        if msg.id in self._channels:
            raise ApiError(400, 160004, "A thread has already been created for this message")
        thread = Channel(
            id=msg.id, name=name, guild=ch.guild, type=11, parent_id=ch.id, bot_permissions=ch.bot_permissions
        )
        ch.guild.channels[thread.id] = thread
        self._channels[thread.id] = thread
        msg.payload["thread"] = thread.payload()
        for session in [s for s in self.sessions.values() if s.resumable and s.intents & INTENT_GUILDS]:
            await self._send_dispatch(session, "THREAD_CREATE", {**thread.payload(), "newly_created": True})
        return self._json(201, thread.payload())

    async def _download(self, request: web.Request) -> web.Response:
        ch = self._channels.get(int(request.match_info["channel_id"]))
        aid = request.match_info["attachment_id"]
        candidates = [m for m in (ch.messages if ch else [])] + list(self.webhook_messages.values())
        for m in candidates:
            for a in m.attachments:
                if a["id"] == aid:
                    return web.Response(body=m.file(a["filename"]), content_type=a["content_type"])
        return web.Response(status=404, text="not found")

    # ------------------------------------------------------------ REST: interactions

    def _interaction(self, request: web.Request) -> Interaction:
        iid = request.match_info["interaction_id"]
        ix = self.interactions.get(int(iid)) if iid.isdigit() else None
        if ix is None or ix.token != request.match_info["token"]:
            raise ApiError(404, 10062, "Unknown interaction")
        return ix

    def _interaction_by_token(self, request: web.Request) -> Interaction:
        if request.match_info["application_id"] != str(self.application_id):
            raise ApiError(404, 10015, "Unknown Webhook")
        token = request.match_info["token"]
        for ix in self.interactions.values():
            if ix.token == token:
                if time.monotonic() - ix.created > 15 * 60:
                    raise ApiError(401, 50027, "Invalid Webhook Token")
                if not ix.acknowledged:
                    raise ApiError(404, 10015, "Unknown Webhook")
                return ix
        raise ApiError(404, 10015, "Unknown Webhook")

    def _callback_result(
        self, request: web.Request, ix: Interaction, cb_type: int, msg: Message | None
    ) -> web.Response:
        if request.query.get("with_response") not in ("1", "true", "True"):
            return self._json(204, None)
        inner: dict[str, Any] = {"id": str(ix.id), "type": ix.type}
        if msg is not None:
            inner.update(
                response_message_id=str(msg.id),
                response_message_loading=msg.loading,
                response_message_ephemeral=msg.ephemeral,
            )
        resource: dict[str, Any] = {"type": cb_type}
        if msg is not None:
            resource["message"] = msg.payload
        return self._json(200, {"interaction": inner, "resource": resource})

    async def _callback(self, request: web.Request) -> web.Response:
        ix = self._interaction(request)
        if time.monotonic() - ix.created > self.ack_deadline:
            raise ApiError(404, 10062, "Unknown interaction")
        if ix.acknowledged:
            raise ApiError(400, 40060, "Interaction has already been acknowledged.")
        body = request[_BODY] or {}
        cb_type = body.get("type")
        data = body.get("data") or {}
        if ix.type == 4:
            if cb_type != 8:
                raise _invalid(
                    ["type"], "INTERACTION_CALLBACK_TYPE_INVALID", "Autocomplete interactions need type 8"
                )
            choices = data.get("choices")
            _validate_choices(choices)
            ix.callbacks.append(body)
            ix.choices = list(choices or [])
            return self._callback_result(request, ix, 8, None)
        if cb_type == 4:
            msg = self._interaction_message(ix, data, request[_FILES])
            ix.callbacks.append(body)
            ix.original = msg
            return self._callback_result(request, ix, 4, msg)
        if cb_type == 5:
            flags = int(data.get("flags") or 0)
            mid = self.ids.next()
            msg = Message(
                id=mid,
                channel=None if flags & EPHEMERAL else ix.channel,
                payload={
                    "id": str(mid),
                    "channel_id": str(ix.channel.id),
                    "author": self.bot.payload(),
                    "content": "",
                    "timestamp": snowflake_time(mid).isoformat(),
                    "edited_timestamp": None,
                    "tts": False,
                    "mention_everyone": False,
                    "mentions": [],
                    "mention_roles": [],
                    "attachments": [],
                    "embeds": [],
                    "pinned": False,
                    "type": 20,
                    "flags": (flags & EPHEMERAL) | LOADING,
                    "components": [],
                    "webhook_id": str(self.application_id),
                    "application_id": str(self.application_id),
                    "interaction_metadata": {
                        "id": str(ix.id),
                        "type": 2,
                        "user": ix.member.user.payload(),
                        "authorizing_integration_owners": ix.payload.get(
                            "authorizing_integration_owners", {}
                        ),
                    },
                },
                request={},
                files=[],
                pinged=[],
                ephemeral=bool(flags & EPHEMERAL),
                loading=True,
            )
            if not msg.ephemeral:
                ix.channel.messages.append(msg)
            self.webhook_messages[mid] = msg
            ix.callbacks.append(body)
            ix.original = msg
            return self._callback_result(request, ix, 5, msg)
        if cb_type in (6, 7):
            raise ApiError(400, 40012, "Interaction type does not support this response type")
        raise _invalid(
            ["type"],
            "BASE_TYPE_CHOICES",
            f"Value must be one of {{1, 4, 5, 6, 7, 8, 9, 12}}, got {cb_type!r}",
        )

    def _interaction_message(
        self, ix: Interaction, data: dict[str, Any], files: list[RecordedFile]
    ) -> Message:
        # interaction responses need no channel permissions: they are webhook messages
        ephemeral = bool(int(data.get("flags") or 0) & EPHEMERAL)
        msg = self._build_message(None if ephemeral else ix.channel, data, files, interaction=ix)
        msg.channel = None if ephemeral else ix.channel
        if not ephemeral:
            ix.channel.messages.append(msg)
        self.webhook_messages[msg.id] = msg
        return msg

    async def _followup(self, request: web.Request) -> web.Response:
        ix = self._interaction_by_token(request)
        body = request[_BODY] or {}
        files = request[_FILES]
        original = ix.original
        if ix.deferred and original is not None and original.loading and not original.deleted:
            # Discord: the first follow-up after a deferred response edits the loading message,
            # keeping its ephemeral state (the flags of the follow-up are ignored).
            self._apply_edit(
                original, original.channel, {k: v for k, v in body.items() if k != "flags"}, files
            )
            out = original
        else:
            out = self._interaction_message(ix, body, files)
            ix.followups.append(out)
        wait = request.query.get("wait") in ("1", "true", "True")
        return self._json(200, out.payload) if wait else self._json(204, None)

    async def _webhook_message(self, request: web.Request) -> web.Response:
        ix = self._interaction_by_token(request)
        mid = request.match_info["message_id"]
        msg = ix.original if mid == "@original" else next((m for m in ix.followups if str(m.id) == mid), None)
        if msg is None or msg.deleted:
            raise ApiError(404, 10008, "Unknown Message")
        if request.method == "GET":
            return self._json(200, msg.payload)
        if request.method == "DELETE":
            msg.deleted = True
            return self._json(204, None)
        self._apply_edit(msg, msg.channel, request[_BODY] or {}, request[_FILES])
        return self._json(200, msg.payload)

    # ------------------------------------------------------------ gateway

    async def _send(self, conn: GatewayConnection, payload: dict[str, Any]) -> None:
        if conn.ws.closed:
            return
        text = json.dumps(payload)
        if conn.compressed:
            # zlib-stream: one deflate context per connection, each message ends with Z_SYNC_FLUSH
            data = conn.compressor.compress(text.encode()) + conn.compressor.flush(zlib.Z_SYNC_FLUSH)
            await conn.ws.send_bytes(data)
        else:
            await conn.ws.send_str(text)

    async def _close(self, conn: GatewayConnection, code: int, reason: bytes) -> None:
        """Close a gateway connection with a Discord close code (recorded for tests)."""
        conn.close_code, conn.closed_by_server = code, True
        await conn.ws.close(code=code, message=reason)
        await self._notify()

    async def _send_dispatch(self, session: GatewaySession, event: str, data: dict[str, Any]) -> None:
        session.seq += 1
        payload = {"op": 0, "t": event, "s": session.seq, "d": data}
        session.events.append(payload)
        conn = next((c for c in reversed(self.connections) if c.session is session and not c.ws.closed), None)
        if conn is not None:
            await self._send(conn, payload)

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        query = dict(request.query)
        compress = query.get("compress")
        conn = GatewayConnection(path=request.path, query=query, compressed=compress == "zlib-stream", ws=ws)
        if conn.compressed:
            conn.compressor = zlib.compressobj()
        self.connections.append(conn)
        await self._notify()
        try:
            if query.get("v") != "10":
                await self._close(conn, 4012, b"Invalid API version")
                return ws
            if query.get("encoding", "json") != "json":
                await self._close(conn, 4002, b"Decode error")
                return ws
            if compress not in (None, "zlib-stream"):
                await self._close(conn, 4000, b"Unsupported compression")
                return ws
            await self._send(
                conn,
                {"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms}, "s": None, "t": None},
            )
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    if msg.type == WSMsgType.BINARY:
                        await self._close(conn, 4002, b"Decode error")
                    break
                try:
                    frame = json.loads(msg.data)
                except ValueError:
                    await self._close(conn, 4002, b"Decode error")
                    break
                conn.received.append(frame)
                await self._gateway_op(conn, frame)
                await self._notify()
        finally:
            if conn.close_code is None:
                conn.close_code = ws.close_code
            if not conn.closed_by_server and conn.close_code in (1000, 1001) and conn.session is not None:
                conn.session.resumable = False  # Discord: a client's 1000/1001 close ends the session
            await self._notify()
        return ws

    async def _gateway_op(self, conn: GatewayConnection, frame: dict[str, Any]) -> None:
        op, d = frame.get("op"), frame.get("d")
        if op == 1:
            conn.heartbeats += 1
            await self._send(conn, {"op": 11, "d": None})
            return
        if op == 2:
            if conn.identified:
                await self._close(conn, 4005, b"Already authenticated")
                return
            if not isinstance(d, dict) or d.get("token") != self.token:
                await self._close(conn, 4004, b"Authentication failed")
                return
            intents = int(d.get("intents", 0))
            if any(bit & intents and not bit & self.privileged_intents for bit in PRIVILEGED_INTENTS):
                await self._close(conn, 4014, b"Disallowed intent(s)")
                return
            self.identify_count += 1
            session = GatewaySession(id=secrets.token_hex(16), intents=intents)
            self.sessions[session.id] = session
            conn.session, conn.identified = session, True
            conn.identified_at = time.monotonic()
            ready = {
                "v": 10,
                "user": {**self.bot.payload(), "verified": True, "mfa_enabled": False},
                "guilds": [{"id": str(g), "unavailable": True} for g in self.guilds],
                "session_id": session.id,
                "resume_gateway_url": f"ws://127.0.0.1:{self.port}/gateway-resume",
                "session_type": "normal",
                "application": {"id": str(self.application_id), "flags": 0},
                "private_channels": [],
                "relationships": [],
                "presences": [],
                "guild_join_requests": [],
                "geo_ordered_rtc_regions": [],
                "user_settings": {},
                "auth": {},
                "_trace": ["fake-discord"],
            }
            await self._send_dispatch(session, "READY", ready)
            if intents & INTENT_GUILDS:
                for g in self.guilds.values():
                    await self._send_dispatch(session, "GUILD_CREATE", g.payload())
            return
        if op == 6:
            if not isinstance(d, dict) or d.get("token") != self.token:
                await self._close(conn, 4004, b"Authentication failed")
                return
            session = self.sessions.get(str(d.get("session_id")))
            if session is None or not session.resumable:
                await self._send(conn, {"op": 9, "d": False})
                return
            self.resume_count += 1
            conn.session, conn.identified, conn.resumed = session, True, True
            seq = int(d.get("seq") or 0)
            for event in session.events:
                if event["s"] > seq:
                    await self._send(conn, event)
            await self._send_dispatch(session, "RESUMED", {"_trace": ["fake-discord"]})
            return
        if op in (3, 4, 8, 31):
            if not conn.identified:
                await self._close(conn, 4003, b"Not authenticated")
            return
        await self._close(conn, 4001, b"Unknown opcode")


# ---------------------------------------------------------------- validation as Discord does it


def _validate_command(cmd: Any, i: int) -> None:
    if not isinstance(cmd, dict):
        raise _invalid([i], "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
    kind = cmd.get("type", 1)
    name = cmd.get("name")
    if not isinstance(name, str) or not _COMMAND_NAME.match(name) or (kind == 1 and name != name.lower()):
        raise _invalid([i, "name"], "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
    desc = cmd.get("description", "")
    if kind == 1 and (not isinstance(desc, str) or not 1 <= len(desc) <= 100):
        raise _invalid([i, "description"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
    dmp = cmd.get("default_member_permissions")
    if dmp is not None and not str(dmp).isdigit():
        raise _invalid([i, "default_member_permissions"], "NUMBER_TYPE_COERCE", "Value is not int.")
    _validate_options(cmd.get("options") or [], [i, "options"], depth=0)
    total = len(name) + len(desc) + _options_chars(cmd.get("options") or [])
    if total > 4000:
        raise _invalid([i], "APPLICATION_COMMAND_TOO_LARGE", "Command exceeds maximum size (4000)")


def _options_chars(options: list[dict[str, Any]]) -> int:
    total = 0
    for o in options:
        total += len(o.get("name", "")) + len(o.get("description", ""))
        for c in o.get("choices") or []:
            total += len(str(c.get("name", ""))) + len(str(c.get("value", "")))
        total += _options_chars(o.get("options") or [])
    return total


def _validate_options(options: list[dict[str, Any]], path: list[Any], *, depth: int) -> None:
    if len(options) > 25:
        raise _invalid(path, "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    names: set[str] = set()
    seen_optional = False
    kinds = {o.get("type") for o in options}
    if kinds & {1, 2} and kinds - {1, 2}:
        raise _invalid(
            path,
            "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
            "Sub-command and sub-command group option types are mutually exclusive to all other types",
        )
    for j, o in enumerate(options):
        p = [*path, j]
        kind = o.get("type")
        if kind not in range(1, 12):
            raise _invalid([*p, "type"], "BASE_TYPE_CHOICES", "Value must be one of (1..11).")
        name = o.get("name")
        if not isinstance(name, str) or not _COMMAND_NAME.match(name) or name != name.lower():
            raise _invalid([*p, "name"], "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
        if name in names:
            raise _invalid(
                [*p, "name"], "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS", "Option names must be unique"
            )
        names.add(name)
        desc = o.get("description")
        if not isinstance(desc, str) or not 1 <= len(desc) <= 100:
            raise _invalid(
                [*p, "description"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
            )
        if kind in (1, 2):
            if (kind == 2 and depth > 0) or (kind == 1 and depth > 1):
                raise _invalid(
                    [*p, "type"], "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID", "Sub-commands nested too deeply"
                )
            children = o.get("options") or []
            if kind == 2 and any(c.get("type") != 1 for c in children):
                raise _invalid(
                    [*p, "options"],
                    "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
                    "Groups take only sub-commands",
                )
            _validate_options(children, [*p, "options"], depth=depth + 1)
            continue
        if o.get("required"):
            if seen_optional:
                raise _invalid(
                    [*p, "required"],
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            seen_optional = True
        choices = o.get("choices")
        if choices and o.get("autocomplete"):
            raise _invalid(
                [*p, "autocomplete"],
                "APPLICATION_COMMAND_OPTIONS_AUTOCOMPLETE_AND_CHOICES",
                "Autocomplete cannot be set with choices",
            )
        if o.get("autocomplete") and kind not in (3, 4, 10):
            raise _invalid(
                [*p, "autocomplete"],
                "APPLICATION_COMMAND_OPTIONS_AUTOCOMPLETE_TYPE",
                "Autocomplete needs a string, integer or number option",
            )
        if choices is not None and len(choices) > 25:
            raise _invalid([*p, "choices"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        for key in ("min_length", "max_length"):
            if key in o and (kind != 3 or not 0 <= int(o[key]) <= 6000):
                raise _invalid([*p, key], "BASE_TYPE_BAD", f"{key} is only for strings, 0..6000")


def _normalise_options(options: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for o in options:
        n = {k: v for k, v in o.items() if v is not None}
        if o.get("type") not in (1, 2):
            n.setdefault("required", False)
        if o.get("options"):
            n["options"] = _normalise_options(o["options"])
        out.append(n)
    return out


def _validate_choices(choices: Any) -> None:
    if not isinstance(choices, list):
        raise _invalid(["data", "choices"], "LIST_TYPE_CONVERT", "Must be an array.")
    if len(choices) > 25:
        raise _invalid(["data", "choices"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    for k, c in enumerate(choices):
        name = c.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= 100:
            raise _invalid(
                ["data", "choices", k, "name"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
            )
        value = c.get("value")
        if isinstance(value, str) and len(value) > 100:
            raise _invalid(
                ["data", "choices", k, "value"], "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length."
            )


_EMBED_LIMITS = {"title": 256, "description": 4096}


def _check_url(value: Any, path: list[Any], *, attachment_ok: bool) -> None:
    if value is None:
        return
    if not isinstance(value, str) or len(value) > 2048:
        raise _invalid(path, "URL_TYPE_INVALID_URL", "Not a well formed URL.")
    scheme = value.split(":", 1)[0].lower() if ":" in value else ""
    allowed = ("http", "https", "attachment") if attachment_ok else ("http", "https")
    if scheme not in allowed or re.search(r"\s", value) or "://" not in value:
        raise _invalid(
            path,
            "URL_TYPE_INVALID_SCHEME",
            f'Scheme "{scheme}" is not supported. Scheme must be one of {allowed}.',
        )


def _validate_embeds(embeds: Any) -> None:
    if not isinstance(embeds, list):
        raise _invalid(["embeds"], "LIST_TYPE_CONVERT", "Must be an array.")
    if len(embeds) > 10:
        raise _invalid(["embeds"], "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
    total = 0
    for i, e in enumerate(embeds):
        p: list[Any] = ["embeds", i]
        if e.get("type", "rich") != "rich":
            raise _invalid([*p, "type"], "BASE_TYPE_CHOICES", "Value must be one of ('rich',).")
        for key, limit in _EMBED_LIMITS.items():
            v = e.get(key)
            if v is not None and (not isinstance(v, str) or len(v) > limit):
                raise _invalid([*p, key], "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")
            total += len(v or "")
        _check_url(e.get("url"), [*p, "url"], attachment_ok=False)
        color = e.get("color")
        if color is not None and not (isinstance(color, int) and 0 <= color <= 0xFFFFFF):
            raise _invalid([*p, "color"], "NUMBER_TYPE_MAX", "int value should be <= 16777215.")
        ts = e.get("timestamp")
        if ts is not None:
            try:
                datetime.fromisoformat(str(ts).replace("Z", "+00:00"))
            except ValueError:
                raise _invalid([*p, "timestamp"], "DATE_TYPE_PARSE", "Could not parse timestamp.") from None
        fields = e.get("fields") or []
        if len(fields) > 25:
            raise _invalid([*p, "fields"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        for j, f in enumerate(fields):
            for key, limit in (("name", 256), ("value", 1024)):
                v = f.get(key)
                if not isinstance(v, str) or not v.strip():
                    raise _invalid([*p, "fields", j, key], "BASE_TYPE_REQUIRED", "This field is required")
                if len(v) > limit:
                    raise _invalid(
                        [*p, "fields", j, key], "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length."
                    )
                total += len(v)
        footer = e.get("footer")
        if footer is not None:
            text = footer.get("text")
            if not isinstance(text, str) or not text.strip():
                raise _invalid([*p, "footer", "text"], "BASE_TYPE_REQUIRED", "This field is required")
            if len(text) > 2048:
                raise _invalid(
                    [*p, "footer", "text"], "BASE_TYPE_MAX_LENGTH", "Must be 2048 or fewer in length."
                )
            total += len(text)
            _check_url(footer.get("icon_url"), [*p, "footer", "icon_url"], attachment_ok=True)
        author = e.get("author")
        if author is not None:
            name = author.get("name")
            if not isinstance(name, str) or not name.strip():
                raise _invalid([*p, "author", "name"], "BASE_TYPE_REQUIRED", "This field is required")
            if len(name) > 256:
                raise _invalid(
                    [*p, "author", "name"], "BASE_TYPE_MAX_LENGTH", "Must be 256 or fewer in length."
                )
            total += len(name)
            _check_url(author.get("url"), [*p, "author", "url"], attachment_ok=False)
        for key in ("image", "thumbnail"):
            if e.get(key) is not None:
                _check_url(e[key].get("url"), [*p, key, "url"], attachment_ok=True)
    if total > 6000:
        raise _invalid(["embeds"], "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000")


def _normalise_embed(e: dict[str, Any], names: set[str], attachments: list[dict[str, Any]]) -> dict[str, Any]:
    out = {**e, "type": "rich", "content_scan_version": 0}
    for key in ("image", "thumbnail"):
        media = out.get(key)
        if media and str(media.get("url", "")).startswith("attachment://"):
            name = media["url"][len("attachment://") :]
            att = next((a for a in attachments if a["filename"] == name), None)
            if att is None:
                out.pop(key)  # Discord drops media that points at no attachment
            else:
                out[key] = {
                    "url": att["url"],
                    "proxy_url": att["proxy_url"],
                    "width": 800,
                    "height": 400,
                    "flags": 0,
                }
    return out


def _validate_allowed_mentions(allowed: Any) -> None:
    if allowed is None:
        return
    if not isinstance(allowed, dict):
        raise _invalid(
            ["allowed_mentions"], "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType"
        )
    parse = allowed.get("parse") or []
    for k, v in enumerate(parse):
        if v not in ("users", "roles", "everyone"):
            raise _invalid(
                ["allowed_mentions", "parse", k],
                "BASE_TYPE_CHOICES",
                "Value must be one of ('roles', 'users', 'everyone').",
            )
    if "users" in parse and allowed.get("users"):
        raise _invalid(
            ["allowed_mentions"],
            "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
            'parse:["users"] and users: [ids...] are mutually exclusive.',
        )
    if "roles" in parse and allowed.get("roles"):
        raise _invalid(
            ["allowed_mentions"],
            "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
            'parse:["roles"] and roles: [ids...] are mutually exclusive.',
        )


def validate_message(body: dict[str, Any]) -> None:
    """Discord's checks on a message body (content, embeds, allowed_mentions); raises ApiError (400)."""
    content = body.get("content") or ""
    if len(content) > 2000:
        raise _invalid(["content"], "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.")
    _validate_embeds(body.get("embeds") or [])
    _validate_allowed_mentions(body.get("allowed_mentions"))
    if not content and not body.get("embeds") and not body.get("attachments"):
        raise ApiError(400, 50006, "Cannot send an empty message")


def pings(content: str, allowed_mentions: dict[str, Any] | None = None) -> list[str]:
    """Who Discord would notify for ``content`` in a server where the bot may mention everyone."""
    fake = DiscordFake.__new__(DiscordFake)
    return DiscordFake._pings(fake, None, content, allowed_mentions)[0]


async def _main() -> None:  # pragma: no cover - manual use
    async with DiscordFake() as fake:
        guild = fake.add_guild()
        ch = guild.add_channel("alerts")
        print(f"DISCORD_BOT_TOKEN={fake.token}")
        print(f"DISCORD_API_URL={fake.api_url}")
        print(f"DISCORD_GATEWAY_URL={fake.gateway_url}")
        print(f"DISCORD_GUILD_IDS={guild.id}  channel discord:{ch.id}")
        await asyncio.Event().wait()


if __name__ == "__main__":  # pragma: no cover
    asyncio.run(_main())

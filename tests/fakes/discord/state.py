"""The fake's world model: users, members, channels, guilds, messages, interactions, gateway sessions."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.fakes.discord.limits import (
    ADMINISTRATOR,
    ALL_PERMISSIONS,
    BOT_DEFAULT,
    EVERYONE_DEFAULT,
    MANAGE_CHANNELS,
    PERMISSION_NAMES,
    VIEW_CHANNEL,
)
from tests.fakes.discord.markdown import Rendered, render_markdown
from tests.fakes.discord.wire import (
    RecordedFile,
    _iso,
)
from tests.support.wait import WAIT_TIMEOUT

# ---------------------------------------------------------------- world model

if TYPE_CHECKING:
    from tests.fakes.discord.server import DiscordFake


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

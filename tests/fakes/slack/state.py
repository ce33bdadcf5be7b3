"""The fake's records: API calls, messages, channels, users, tokens, failures, uploads, commands."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from tests.fakes.slack.rendering import (
    Rendered,
    render_blocks,
    render_mrkdwn,
)
from tests.support.wait import WAIT_TIMEOUT, wait_until

# ---------------------------------------------------------------- state records


@dataclass
class ApiCall:
    """One Web API request as the fake received and answered it."""

    method: str
    params: dict[str, Any]
    token: str | None
    http_method: str
    at: float
    status: int = 200
    response: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.response.get("ok"))

    @property
    def error(self) -> str | None:
        err = self.response.get("error")
        return str(err) if err is not None else None


@dataclass
class Message:
    """A message in a channel as a user sees it (its edits kept in ``history``)."""

    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    user: str
    bot_id: str | None = None
    thread_ts: str | None = None
    via: Literal["api", "response_url", "file_share"] = "api"
    link_names: bool = False
    files: list[dict[str, Any]] = field(default_factory=list)
    history: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)
    unfurl_links: bool | None = None

    def view(self) -> Rendered:
        """What the Slack client shows: the blocks when present, else the text."""
        if self.blocks:
            return render_blocks(self.blocks, link_names=self.link_names)
        return render_mrkdwn(self.text, parse_bare_mentions=self.link_names)

    def notification(self) -> Rendered:
        """The push-notification text (the top-level ``text``)."""
        return render_mrkdwn(self.text, parse_bare_mentions=self.link_names)

    @property
    def visible(self) -> str:
        return self.view().text

    @property
    def pings(self) -> tuple[str, ...]:
        return self.view().pings + self.notification().pings

    @property
    def edited(self) -> bool:
        return bool(self.history)


@dataclass
class Channel:
    id: str
    name: str
    is_private: bool = False
    is_member: bool = True
    is_archived: bool = False
    is_im: bool = False


@dataclass
class User:
    id: str
    name: str
    real_name: str = ""
    is_admin: bool = False
    is_owner: bool = False
    is_primary_owner: bool = False
    is_bot: bool = False
    deleted: bool = False


@dataclass
class Token:
    value: str
    kind: Literal["bot", "app", "user"]
    scopes: set[str]
    state: str | None = None  # None: active; else the error Slack answers (token_revoked, ...)


@dataclass
class Failure:
    """A scripted answer for the next call of a method."""

    status: int = 200
    error: str | None = None
    retry_after: int | None = None
    drop: bool = False
    delay: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Upload:
    file_id: str
    filename: str
    length: int
    alt_txt: str | None
    data: bytes | None = None
    completed: bool = False
    title: str | None = None
    channel: str | None = None


@dataclass
class CommandResponse:
    """One message an app sent through a slash command's response_url (or its ack)."""

    response_type: str
    text: str
    blocks: list[dict[str, Any]]
    replace_original: bool = False
    delete_original: bool = False
    thread_ts: str | None = None
    source: Literal["ack", "response_url"] = "response_url"

    @property
    def ephemeral(self) -> bool:
        return self.response_type != "in_channel"

    def view(self) -> Rendered:
        return render_blocks(self.blocks) if self.blocks else render_mrkdwn(self.text)

    @property
    def visible(self) -> str:
        return self.view().text


@dataclass
class SlashResult:
    """What happened to a slash command, as the user experienced it.

    ``user_error`` is the error Slack shows the user (``operation_timeout`` when the app did
    not acknowledge within 3 s, ``dispatch_failed`` when it could not be delivered).
    ``ack_seconds`` is how long the app took to acknowledge (None: never).
    """

    command: str
    text: str
    channel: str
    user: str
    response_url: str
    ack_seconds: float | None = None
    ack_payload: dict[str, Any] | None = None
    user_error: str | None = None
    http_status: int | None = None
    responses: list[CommandResponse] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    _shown: Message | None = field(default=None, repr=False)

    @property
    def timed_out(self) -> bool:
        return self.user_error == "operation_timeout"

    async def wait_responses(self, count: int = 1, *, timeout: float = WAIT_TIMEOUT) -> list[CommandResponse]:
        """Wait until the app has sent ``count`` responses (ack payload included)."""
        await wait_until(
            lambda: len(self.responses) >= count,
            what=f"{count} response(s) to {self.command} {self.text!r}",
            timeout=timeout,
            changed=self._changed,
        )
        return self.responses


@dataclass
class SocketConnection:
    id: int
    ws: web.WebSocketResponse
    request: web.Request
    opened_at: float
    hello_sent: bool = False
    closed: bool = False
    received: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class EnvelopeResult:
    envelope_id: str
    acked: bool
    ack_seconds: float | None
    payload: dict[str, Any] | None


@dataclass
class _ResponseUrl:
    result: SlashResult
    created: float
    uses: int = 0


DEFAULT_BOT_SCOPES = frozenset(
    {"chat:write", "commands", "files:write", "users:read", "channels:read", "groups:read"}
)

# method -> (token kind, scope); conversations.info's scope depends on the channel
_METHODS: dict[str, tuple[str, str | None]] = {
    "auth.test": ("any", None),
    "chat.postMessage": ("bot", "chat:write"),
    "chat.update": ("bot", "chat:write"),
    "chat.postEphemeral": ("bot", "chat:write"),
    "conversations.info": ("bot", None),
    "users.info": ("bot", "users:read"),
    "files.getUploadURLExternal": ("bot", "files:write"),
    "files.completeUploadExternal": ("bot", "files:write"),
    "apps.connections.open": ("app", "connections:write"),
}

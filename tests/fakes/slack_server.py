"""A faithful Slack on 127.0.0.1: Web API, response_url, file uploads and Socket Mode.

Speaks Slack's real wire formats so the real slack_sdk / slack_bolt run against it:
``{"ok": true, ...}`` / ``{"ok": false, "error": "channel_not_found"}`` envelopes (HTTP 200 for
logical errors, HTTP 429 + Retry-After for rate limits), token and scope checks, per-channel
states, Block Kit validation like Slack's (``invalid_blocks`` with json-pointer messages),
the files.getUploadURLExternal -> upload -> files.completeUploadExternal flow, response_url
endpoints, and the Socket Mode websocket (hello, envelopes, acks, disconnect, dropped sockets).

Test-side controls: ``slash_command`` injects a command as a user would (over the socket or as
a signed HTTP request) and reports what the user saw (ack in time or ``operation_timeout``,
ephemeral and in-channel responses); ``fail_next`` scripts failures; ``calls`` records every
Web API call; ``messages`` shows each channel as a user would see it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import math
import re
import secrets
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from tests.support.wait import WAIT_TIMEOUT, wait_until

# ---------------------------------------------------------------- Block Kit limits

MAX_BLOCKS = 50
MAX_TEXT = 40_000
SECTION_TEXT = 3_000
FIELD_TEXT = 2_000
MAX_FIELDS = 10
HEADER_TEXT = 150
CONTEXT_ELEMENTS = 10
BLOCK_ID = 255

_TEXT_KEYS = {"plain_text": {"type", "text", "emoji"}, "mrkdwn": {"type", "text", "verbatim"}}


def validate_blocks(blocks: Any, *, pointer: str = "/blocks") -> list[str]:
    """Slack's Block Kit checks for message blocks; returns Slack-style error strings (empty: valid)."""
    errors: list[str] = []

    def err(msg: str, where: str) -> None:
        errors.append(f"{msg} [json-pointer:{where}]")

    def text_obj(
        obj: Any, where: str, *, limit: int, kinds: Iterable[str] = ("plain_text", "mrkdwn")
    ) -> None:
        if not isinstance(obj, dict):
            err("must be an object", where)
            return
        kind = obj.get("type")
        if kind not in kinds:
            err(f"must be one of {', '.join(kinds)}", f"{where}/type")
            return
        extra = set(obj) - _TEXT_KEYS[kind]
        for key in sorted(extra):
            err("is not a valid property", f"{where}/{key}")
        text = obj.get("text")
        if not isinstance(text, str):
            err("must be a string", f"{where}/text")
        elif len(text) == 0:
            err("must be more than 0 characters", f"{where}/text")
        elif len(text) > limit:
            err(f"must be less than {limit + 1} characters", f"{where}/text")

    if not isinstance(blocks, list):
        err("must be an array", pointer)
        return errors
    if len(blocks) > MAX_BLOCKS:
        err(f"must be less than {MAX_BLOCKS + 1} items", pointer)
    for i, block in enumerate(blocks):
        where = f"{pointer}/{i}"
        if not isinstance(block, dict):
            err("must be an object", where)
            continue
        bid = block.get("block_id")
        if bid is not None and (not isinstance(bid, str) or len(bid) > BLOCK_ID):
            err(f"must be less than {BLOCK_ID + 1} characters", f"{where}/block_id")
        kind = block.get("type")
        if kind == "section":
            if "text" not in block and "fields" not in block:
                err("must provide either text or fields", where)
            if "text" in block:
                text_obj(block["text"], f"{where}/text", limit=SECTION_TEXT)
            if "fields" in block:
                fields = block["fields"]
                if not isinstance(fields, list) or not fields:
                    err("must be a non-empty array", f"{where}/fields")
                else:
                    if len(fields) > MAX_FIELDS:
                        err(f"must be less than {MAX_FIELDS + 1} items", f"{where}/fields")
                    for j, f in enumerate(fields):
                        text_obj(f, f"{where}/fields/{j}", limit=FIELD_TEXT)
            for key in sorted(set(block) - {"type", "text", "fields", "block_id", "accessory", "expand"}):
                err("is not a valid property", f"{where}/{key}")
        elif kind == "header":
            text_obj(block.get("text"), f"{where}/text", limit=HEADER_TEXT, kinds=("plain_text",))
            for key in sorted(set(block) - {"type", "text", "block_id"}):
                err("is not a valid property", f"{where}/{key}")
        elif kind == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not elements:
                err("must be a non-empty array", f"{where}/elements")
                continue
            if len(elements) > CONTEXT_ELEMENTS:
                err(f"must be less than {CONTEXT_ELEMENTS + 1} items", f"{where}/elements")
            for j, el in enumerate(elements):
                if isinstance(el, dict) and el.get("type") == "image":
                    if not el.get("image_url") or not el.get("alt_text"):
                        err("image elements need image_url and alt_text", f"{where}/elements/{j}")
                else:
                    text_obj(el, f"{where}/elements/{j}", limit=SECTION_TEXT)
        elif kind == "divider":
            for key in sorted(set(block) - {"type", "block_id"}):
                err("is not a valid property", f"{where}/{key}")
        elif kind == "image":
            url = block.get("image_url")
            if not isinstance(url, str) or not url or len(url) > 3000:
                err("must be a URL of at most 3000 characters", f"{where}/image_url")
            alt = block.get("alt_text")
            if not isinstance(alt, str) or not alt or len(alt) > 2000:
                err("must be 1 to 2000 characters", f"{where}/alt_text")
            if "title" in block:
                text_obj(block["title"], f"{where}/title", limit=2000, kinds=("plain_text",))
        elif kind == "actions":
            elements = block.get("elements")
            if not isinstance(elements, list) or not elements or len(elements) > 25:
                err("must be an array of 1 to 25 elements", f"{where}/elements")
            else:
                for j, el in enumerate(elements):
                    if isinstance(el, dict) and el.get("type") == "button":
                        text_obj(
                            el.get("text"), f"{where}/elements/{j}/text", limit=75, kinds=("plain_text",)
                        )
                        url = el.get("url")
                        if url is not None and (not isinstance(url, str) or len(url) > 3000):
                            err("must be at most 3000 characters", f"{where}/elements/{j}/url")
        elif kind == "markdown":
            t = block.get("text")
            if not isinstance(t, str) or not t or len(t) > 12_000:
                err("must be 1 to 12000 characters", f"{where}/text")
        elif kind in ("rich_text", "file", "input", "video"):
            pass
        else:
            err("must be a valid enum value", f"{where}/type")
    return errors


# ---------------------------------------------------------------- what a user sees

_SPECIAL = re.compile(r"<([^<>]*)>")
_BARE_MASS = re.compile(r"(?<![\w@])@(channel|here|everyone)\b")
_ENTITIES = {"&amp;": "&", "&lt;": "<", "&gt;": ">"}
_ENTITY = re.compile("&amp;|&lt;|&gt;")


@dataclass(frozen=True)
class Rendered:
    """mrkdwn as a Slack client shows it: display text, who gets pinged, and the links."""

    text: str
    pings: tuple[str, ...] = ()
    links: tuple[tuple[str, str], ...] = ()


def _unescape(text: str) -> str:
    """Slack decodes exactly three entities for display: ``&amp;``, ``&lt;``, ``&gt;`` (one pass)."""
    return _ENTITY.sub(lambda m: _ENTITIES[m.group(0)], text)


def render_mrkdwn(text: str, *, parse_bare_mentions: bool = False) -> Rendered:
    """Render Slack markup: ``<!here>`` pings, ``<@U1>`` mentions, ``<url|label>`` links, entities.

    ``parse_bare_mentions`` models non-verbatim text (``verbatim: false`` or ``link_names``),
    where Slack may turn a bare ``@channel`` into a real mass mention.
    """
    pings: list[str] = []
    links: list[tuple[str, str]] = []
    out: list[str] = []
    pos = 0
    for m in _SPECIAL.finditer(text):
        out.append(_unescape(text[pos : m.start()]))
        pos = m.end()
        target, _, label = m.group(1).partition("|")
        if target.startswith("!"):
            name = target[1:]
            if name.startswith("subteam^"):
                pings.append(f"subteam:{name[8:]}")
                out.append("@" + _unescape(label or name[8:]))
            elif name.startswith("date^"):
                out.append(_unescape(label or name))
            else:
                pings.append(name)
                out.append("@" + name)
        elif target.startswith("@"):
            pings.append(f"user:{target[1:]}")
            out.append("@" + _unescape(label or target[1:]))
        elif target.startswith("#"):
            out.append("#" + _unescape(label or target[1:]))
        else:
            url = _unescape(target)
            shown = _unescape(label) if label else url
            links.append((url, shown))
            out.append(shown)
    out.append(_unescape(text[pos:]))
    shown_text = "".join(out)
    if parse_bare_mentions:
        pings.extend(m.group(1) for m in _BARE_MASS.finditer(shown_text))
    return Rendered(shown_text, tuple(pings), tuple(links))


def _text_of(obj: Any, *, bare: bool) -> Rendered:
    if not isinstance(obj, dict):
        return Rendered("")
    text = str(obj.get("text", ""))
    if obj.get("type") == "plain_text":
        return Rendered(text)
    return render_mrkdwn(text, parse_bare_mentions=bare or not obj.get("verbatim", False))


def render_blocks(blocks: list[dict[str, Any]], *, link_names: bool = False) -> Rendered:
    """Render message blocks to the text a user reads, with pings and links."""
    parts: list[Rendered] = []
    for block in blocks:
        kind = block.get("type")
        if kind in ("section", "header"):
            if "text" in block:
                parts.append(_text_of(block["text"], bare=link_names))
            for f in block.get("fields", []):
                parts.append(_text_of(f, bare=link_names))
        elif kind == "context":
            row = [
                _text_of(el, bare=link_names) for el in block.get("elements", []) if el.get("type") != "image"
            ]
            parts.append(
                Rendered(
                    "  ".join(r.text for r in row),
                    tuple(p for r in row for p in r.pings),
                    tuple(lk for r in row for lk in r.links),
                )
            )
        elif kind == "image":
            parts.append(Rendered(f"[image: {block.get('alt_text', '')}]"))
        elif kind == "divider":
            parts.append(Rendered("---"))
        elif kind == "markdown":
            parts.append(render_mrkdwn(str(block.get("text", "")), parse_bare_mentions=link_names))
    return Rendered(
        "\n".join(p.text for p in parts),
        tuple(x for p in parts for x in p.pings),
        tuple(x for p in parts for x in p.links),
    )


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


class FakeSlack:
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

    # ------------------------------------------------------------ Web API

    async def _api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        params: dict[str, Any] = dict(request.query)
        body_token: str | None = None
        if request.can_read_body:
            ctype = request.content_type
            if ctype == "application/json":
                try:
                    body = await request.json()
                except ValueError:
                    return self._answer(method, {}, None, request, {"ok": False, "error": "invalid_json"})
                if isinstance(body, dict):
                    params.update(body)
            elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
                form = await request.post()
                params.update({k: v for k, v in form.items() if isinstance(v, str)})
        if "token" in params:
            body_token = str(params.pop("token"))
        auth = request.headers.get("Authorization", "")
        header_token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        token = header_token or body_token
        call = ApiCall(method, params, token, request.method, self.clock())
        self.calls.append(call)
        self._touch()

        failures = self._failures.get(method)
        if failures:
            failure = failures.popleft()
            if failure.delay:
                await asyncio.sleep(failure.delay)  # noqa: TID251 - a slow Slack is the behaviour under test
            if failure.drop:
                call.status = 0
                call.response = {"dropped": True}
                if request.transport is not None:
                    request.transport.abort()
                raise asyncio.CancelledError  # the connection is gone: nothing to answer
            if failure.status >= 500:
                call.status = failure.status
                call.response = {"ok": False, "error": f"http_{failure.status}"}
                return web.Response(
                    status=failure.status,
                    text="<html><body><h1>Service Unavailable</h1></body></html>",
                    content_type="text/html",
                )
            if failure.error is not None:
                payload = {"ok": False, "error": failure.error, **failure.extra}
                headers = {}
                if failure.retry_after is not None:
                    headers["Retry-After"] = str(failure.retry_after)
                return self._answer(
                    method, params, token, request, payload, status=failure.status, headers=headers, call=call
                )

        if method not in _METHODS:
            return self._answer(
                method,
                params,
                token,
                request,
                {"ok": False, "error": "unknown_method"},
                call=call,
                status=404,
            )
        kind, scope = _METHODS[method]
        if method == "apps.connections.open" and header_token is None and body_token is not None:
            # Slack: the app-level token must come in the Authorization header
            return self._answer(
                method, params, token, request, {"ok": False, "error": "invalid_auth"}, call=call
            )
        if token is None:
            return self._answer(
                method, params, token, request, {"ok": False, "error": "not_authed"}, call=call
            )
        tok = self.tokens.get(token)
        if tok is None:
            return self._answer(
                method, params, token, request, {"ok": False, "error": "invalid_auth"}, call=call
            )
        if tok.state is not None:
            return self._answer(method, params, token, request, {"ok": False, "error": tok.state}, call=call)
        if kind != "any" and tok.kind != kind:
            return self._answer(
                method, params, token, request, {"ok": False, "error": "not_allowed_token_type"}, call=call
            )
        if scope is not None and scope not in tok.scopes:
            return self._answer(method, params, token, request, self._missing_scope(tok, scope), call=call)
        handler: Callable[[Token, dict[str, Any]], Awaitable[dict[str, Any]]] = getattr(
            self, "_m_" + method.replace(".", "_")
        )
        if method == "chat.postMessage" and self.post_rate is not None:
            limited = self._rate_limited(params)
            if limited is not None:
                return self._answer(
                    method,
                    params,
                    token,
                    request,
                    {"ok": False, "error": "ratelimited"},
                    status=429,
                    headers={"Retry-After": str(limited)},
                    call=call,
                )
        result = await handler(tok, params)
        if method == "chat.postMessage" and result.get("ok"):
            self.post_times[str(result["channel"])].append(call.at)
        return self._answer(method, params, token, request, result, call=call)

    def _rate_limited(self, params: dict[str, Any]) -> int | None:
        """Retry-After seconds when this post would exceed the channel's ``post_rate``, else None."""
        assert self.post_rate is not None
        channel = self._resolve_channel(params.get("channel"))
        if channel is None:
            return None
        limit, per = self.post_rate
        now = self.clock()
        recent = [at for at in self.post_times.get(channel.id, []) if at > now - per]
        if len(recent) < limit:
            return None
        return max(1, math.ceil(recent[-limit] + per - now))

    def _answer(
        self,
        method: str,
        params: dict[str, Any],
        token: str | None,
        request: web.Request,
        payload: dict[str, Any],
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        call: ApiCall | None = None,
    ) -> web.Response:
        if call is None:
            call = ApiCall(method, params, token, request.method, self.clock())
            self.calls.append(call)
        call.status = status
        call.response = payload
        self._touch()
        tok = self.tokens.get(token or "")
        if tok is not None and tok.state is None and payload.get("ok"):
            # like Slack: every successful call says which scopes the token carries
            headers = {**(headers or {}), "X-OAuth-Scopes": ",".join(sorted(tok.scopes))}
        return web.json_response(payload, status=status, headers=headers)

    @staticmethod
    def _missing_scope(tok: Token, needed: str) -> dict[str, Any]:
        return {
            "ok": False,
            "error": "missing_scope",
            "needed": needed,
            "provided": ",".join(sorted(tok.scopes)),
        }

    def _next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts_seq):06d}"

    def _resolve_channel(self, value: Any) -> Channel | None:
        if not isinstance(value, str) or not value:
            return None
        if value in self.channels:
            return self.channels[value]
        name = value.lstrip("#")
        return next((c for c in self.channels.values() if c.name == name), None)

    def _check_post(self, tok: Token, channel: Channel | None) -> dict[str, Any] | None:
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if channel.is_private and not channel.is_member:
            return {"ok": False, "error": "channel_not_found"}
        if channel.is_archived:
            return {"ok": False, "error": "is_archived"}
        if not channel.is_member and not channel.is_im and "chat:write.public" not in tok.scopes:
            return {"ok": False, "error": "not_in_channel"}
        return None

    @staticmethod
    def _blocks_param(params: dict[str, Any]) -> tuple[list[dict[str, Any]] | None, dict[str, Any] | None]:
        blocks = params.get("blocks")
        if blocks is None:
            return None, None
        if isinstance(blocks, str):
            try:
                blocks = json.loads(blocks)
            except ValueError:
                return None, {"ok": False, "error": "invalid_blocks_format"}
        errors = validate_blocks(blocks)
        if errors:
            return None, {
                "ok": False,
                "error": "invalid_blocks",
                "errors": errors,
                "response_metadata": {"messages": [f"[ERROR] {e}" for e in errors]},
            }
        return blocks, None

    def _message_payload(self, msg: Message) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "message",
            "subtype": "bot_message",
            "text": msg.text,
            "user": msg.user,
            "bot_id": msg.bot_id,
            "app_id": self.app_id,
            "team": self.team_id,
            "ts": msg.ts,
            "blocks": msg.blocks,
            "bot_profile": {
                "id": self.bot_id,
                "app_id": self.app_id,
                "name": "marketbot",
                "team_id": self.team_id,
            },
        }
        if msg.thread_ts:
            out["thread_ts"] = msg.thread_ts
        return out

    @staticmethod
    def _flag(params: dict[str, Any], key: str) -> bool | None:
        value = params.get(key)
        if value is None:
            return None
        if isinstance(value, bool):
            return value
        return str(value).lower() in ("1", "true")

    async def _m_auth_test(self, tok: Token, params: dict[str, Any]) -> dict[str, Any]:
        if tok.kind == "app":
            return {"ok": True, "app_id": self.app_id}
        return {
            "ok": True,
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team,
            "user": "marketbot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _text_and_blocks(
        self, params: dict[str, Any]
    ) -> tuple[str, list[dict[str, Any]], dict[str, Any] | None]:
        text = params.get("text")
        text = "" if text is None else str(text)
        blocks, problem = self._blocks_param(params)
        if problem is not None:
            return text, [], problem
        if not text and not blocks:
            return text, [], {"ok": False, "error": "no_text"}
        if len(text) > MAX_TEXT:
            return text, [], {"ok": False, "error": "msg_too_long"}
        return text, blocks or [], None

    async def _m_chat_postMessage(self, tok: Token, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(params.get("channel"))
        problem = self._check_post(tok, channel)
        if problem:
            return problem
        assert channel is not None
        text, blocks, problem = self._text_and_blocks(params)
        if problem:
            return problem
        thread_ts = params.get("thread_ts") or None
        msg = Message(
            channel=channel.id,
            ts=self._next_ts(),
            text=text,
            blocks=blocks,
            user=self.bot_user_id,
            bot_id=self.bot_id,
            thread_ts=str(thread_ts) if thread_ts else None,
            link_names=bool(self._flag(params, "link_names")) or params.get("parse") == "full",
            unfurl_links=self._flag(params, "unfurl_links"),
        )
        self._messages[channel.id].append(msg)
        self._touch()
        return {"ok": True, "channel": channel.id, "ts": msg.ts, "message": self._message_payload(msg)}

    async def _m_chat_update(self, tok: Token, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(params.get("channel"))
        if channel is None or (channel.is_private and not channel.is_member):
            return {"ok": False, "error": "channel_not_found"}
        if channel.is_archived:
            return {"ok": False, "error": "is_archived"}
        ts = str(params.get("ts") or "")
        msg = next((m for m in self._messages.get(channel.id, []) if m.ts == ts), None)
        if msg is None:
            return {"ok": False, "error": "message_not_found"}
        if msg.user != self.bot_user_id:
            return {"ok": False, "error": "cant_update_message"}
        text, blocks, problem = self._text_and_blocks(params)
        if problem:
            return problem
        msg.history.append((msg.text, msg.blocks))
        msg.text, msg.blocks = text, blocks
        self._touch()
        return {
            "ok": True,
            "channel": channel.id,
            "ts": ts,
            "text": text,
            "message": self._message_payload(msg),
        }

    async def _m_chat_postEphemeral(self, tok: Token, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(params.get("channel"))
        problem = self._check_post(tok, channel)
        if problem:
            return problem
        assert channel is not None
        user = str(params.get("user") or "")
        if user not in self.users:
            return {"ok": False, "error": "user_not_found"}
        text, blocks, problem = self._text_and_blocks(params)
        if problem:
            return problem
        msg = Message(channel.id, self._next_ts(), text, blocks, self.bot_user_id, self.bot_id)
        self.ephemerals[(channel.id, user)].append(msg)
        self._touch()
        return {"ok": True, "message_ts": msg.ts}

    async def _m_conversations_info(self, tok: Token, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(params.get("channel"))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        needed = "im:read" if channel.is_im else ("groups:read" if channel.is_private else "channels:read")
        if needed not in tok.scopes:
            return self._missing_scope(tok, needed)
        if channel.is_private and not channel.is_member:
            return {"ok": False, "error": "channel_not_found"}
        return {
            "ok": True,
            "channel": {
                "id": channel.id,
                "name": channel.name,
                "is_channel": not channel.is_private and not channel.is_im,
                "is_group": channel.is_private,
                "is_im": channel.is_im,
                "is_private": channel.is_private,
                "is_archived": channel.is_archived,
                "is_member": channel.is_member,
                "is_general": channel.name == "general",
                "created": 1_600_000_000,
                "context_team_id": self.team_id,
            },
        }

    async def _m_users_info(self, tok: Token, params: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(params.get("user") or ""))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {
            "ok": True,
            "user": {
                "id": user.id,
                "team_id": self.team_id,
                "name": user.name,
                "real_name": user.real_name,
                "deleted": user.deleted,
                "is_admin": user.is_admin,
                "is_owner": user.is_owner,
                "is_primary_owner": user.is_primary_owner,
                "is_restricted": False,
                "is_ultra_restricted": False,
                "is_bot": user.is_bot,
                "tz": "America/New_York",
                "profile": {"display_name": user.name, "real_name": user.real_name},
            },
        }

    async def _m_files_getUploadURLExternal(self, tok: Token, params: dict[str, Any]) -> dict[str, Any]:
        filename = params.get("filename")
        length = params.get("length")
        if not filename or length is None:
            return {"ok": False, "error": "invalid_arguments"}
        try:
            size = int(length)
        except (TypeError, ValueError):
            return {"ok": False, "error": "invalid_arguments"}
        if size <= 0:
            return {"ok": False, "error": "invalid_arguments"}
        file_id = "F" + secrets.token_hex(5).upper()
        upload_id = secrets.token_urlsafe(12)
        self.uploads[file_id] = Upload(file_id, str(filename), size, params.get("alt_txt"))
        self._upload_urls[upload_id] = file_id
        return {"ok": True, "upload_url": f"{self.url}upload/v1/{upload_id}", "file_id": file_id}

    async def _upload(self, request: web.Request) -> web.Response:
        file_id = self._upload_urls.pop(request.match_info["upload_id"], None)
        if file_id is None:
            return web.Response(
                status=404, text="upload URL not found or already used", content_type="text/plain"
            )
        data = await request.read()
        upload = self.uploads[file_id]
        upload.data = data
        self._touch()
        return web.Response(text=f"OK - {len(data)}", content_type="text/plain")

    async def _m_files_completeUploadExternal(self, tok: Token, params: dict[str, Any]) -> dict[str, Any]:
        raw = params.get("files")
        try:
            files = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            return {"ok": False, "error": "invalid_arguments"}
        if not isinstance(files, list) or not files:
            return {"ok": False, "error": "invalid_arguments"}
        uploads: list[Upload] = []
        for f in files:
            up = self.uploads.get(str(f.get("id"))) if isinstance(f, dict) else None
            if up is None or up.data is None:
                return {"ok": False, "error": "file_not_found"}
            up.title = f.get("title") or up.filename
            uploads.append(up)
        channel_value = params.get("channel_id") or params.get("channels")
        channel = None
        if channel_value:
            channel = self._resolve_channel(str(channel_value).split(",")[0])
            problem = self._check_post(tok, channel)
            if problem:
                return problem
        out = []
        for up in uploads:
            up.completed = True
            up.channel = channel.id if channel else None
            out.append(
                {"id": up.file_id, "title": up.title, "name": up.filename, "size": len(up.data or b"")}
            )
        if channel is not None:
            comment = str(params.get("initial_comment") or "")
            msg = Message(
                channel.id,
                self._next_ts(),
                comment,
                [],
                self.bot_user_id,
                self.bot_id,
                thread_ts=str(params["thread_ts"]) if params.get("thread_ts") else None,
                via="file_share",
                files=[
                    {"id": u.file_id, "title": u.title, "name": u.filename, "data": u.data} for u in uploads
                ],
            )
            self._messages[channel.id].append(msg)
        self._touch()
        return {"ok": True, "files": out}

    async def _m_apps_connections_open(self, tok: Token, params: dict[str, Any]) -> dict[str, Any]:
        ticket = str(uuid.uuid4())
        self._tickets[ticket] = time.monotonic()
        ws_url = self.url.replace("http://", "ws://")
        return {"ok": True, "url": f"{ws_url}link/?ticket={ticket}&app_id={self.app_id}"}

    # ------------------------------------------------------------ Socket Mode

    @property
    def live_connections(self) -> list[SocketConnection]:
        return [c for c in self.connections if not c.closed and c.hello_sent]

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        issued = self._tickets.pop(ticket, None)  # single use
        if self.ws_outage:
            self.socket_refusals.append("outage")
            self._touch()
            return web.Response(status=503, text="Service Unavailable")
        if issued is None or time.monotonic() - issued > 30:
            self.socket_refusals.append("bad_ticket")
            self._touch()
            return web.Response(status=401, text="invalid or expired ticket")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = SocketConnection(next(self._conn_ids), ws, request, time.monotonic())
        self.connections.append(conn)
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": len([c for c in self.connections if not c.closed]),
                "debug_info": {
                    "host": f"applink-fake-{conn.id}",
                    "build_number": 105,
                    "approximate_connection_time": 18060,
                },
                "connection_info": {"app_id": self.app_id},
            }
        )
        conn.hello_sent = True
        self._touch()
        try:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    try:
                        data = json.loads(msg.data)
                    except ValueError:
                        continue
                    conn.received.append(data)
                    fut = self._pending_acks.get(str(data.get("envelope_id")))
                    if fut is not None and not fut.done():
                        fut.set_result(data)
                    self._touch()
        finally:
            conn.closed = True
            self._touch()
        return ws

    async def wait_connected(self, *, newer_than: int = 0, timeout: float = WAIT_TIMEOUT) -> SocketConnection:
        """Wait for a live connection (hello sent) whose id is greater than ``newer_than``."""

        def found() -> SocketConnection | None:
            return next((c for c in reversed(self.live_connections) if c.id > newer_than), None)

        conn: SocketConnection = await self.wait_for(
            found, timeout=timeout, what=f"a live Socket Mode connection newer than #{newer_than}"
        )
        return conn

    def _pick_connection(self) -> SocketConnection | None:
        live = self.live_connections
        return live[-1] if live else None

    async def send_envelope(
        self,
        kind: Literal["slash_commands", "interactive", "events_api"],
        payload: dict[str, Any],
        *,
        deadline: float | None = None,
        retry_attempt: int = 0,
    ) -> EnvelopeResult:
        """Deliver an envelope on a live connection and wait for its ack (up to ``deadline``)."""
        conn = self._pick_connection()
        envelope_id = str(uuid.uuid4())
        if conn is None:
            return EnvelopeResult(envelope_id, False, None, None)
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "payload": payload,
            "type": kind,
            "accepts_response_payload": kind != "events_api",
        }
        if kind == "events_api":
            envelope["retry_attempt"] = retry_attempt
            envelope["retry_reason"] = "" if retry_attempt == 0 else "timeout"
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending_acks[envelope_id] = fut
        started = time.monotonic()
        try:
            await conn.ws.send_json(envelope)
            async with asyncio.timeout(self.ack_deadline if deadline is None else deadline):
                ack = await fut
        except (TimeoutError, ConnectionError, RuntimeError):
            return EnvelopeResult(envelope_id, False, None, None)
        finally:
            self._pending_acks.pop(envelope_id, None)
        return EnvelopeResult(envelope_id, True, time.monotonic() - started, ack.get("payload"))

    async def send_disconnect(
        self, reason: str = "refresh_requested", *, close_after: float | None = None
    ) -> None:
        """Send Slack's ``disconnect`` envelope to every live connection; close them later if asked."""
        for conn in self.live_connections:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await conn.ws.send_json(
                    {
                        "type": "disconnect",
                        "reason": reason,
                        "debug_info": {"host": f"applink-fake-{conn.id}"},
                    }
                )
            if close_after is not None:
                self._spawn(self._close_later(conn, close_after))

    async def _close_later(self, conn: SocketConnection, delay: float) -> None:
        await asyncio.sleep(delay)  # noqa: TID251 - Slack closing the old socket later, as it does
        if not conn.closed:
            await conn.ws.close(code=aiohttp.WSCloseCode.GOING_AWAY)

    async def close_connections(self) -> None:
        """Close every connection cleanly (a close frame), as Slack does on a refresh."""
        for conn in self.live_connections:
            await conn.ws.close(code=aiohttp.WSCloseCode.GOING_AWAY)

    def drop_connections(self) -> None:
        """Drop every connection without a close frame (a network failure)."""
        for conn in self.live_connections:
            conn.closed = True
            transport = conn.request.transport
            if transport is not None:
                transport.abort()
        self._touch()

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------ slash commands

    def _command_payload(
        self, command: str, text: str, channel: str, user: str, response_url: str
    ) -> dict[str, str]:
        ch = self.channels.get(channel)
        u = self.users.get(user)
        return {
            "token": self.verification_token,
            "team_id": self.team_id,
            "team_domain": self.team_domain,
            "channel_id": channel,
            "channel_name": ch.name if ch else "privategroup",
            "user_id": user,
            "user_name": u.name if u else user.lower(),
            "command": command,
            # Slack escapes &, < and > in what the user typed
            "text": text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"),
            "api_app_id": self.app_id,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": f"{int(time.time())}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}",
        }

    async def slash_command(
        self,
        command: str,
        text: str = "",
        *,
        channel: str = "C0GENERAL1",
        user: str = "U0USER0001",
        request_url: str | None = None,
        signing_secret: str | None = None,
        signature: str | None = None,
        timestamp: int | None = None,
    ) -> SlashResult:
        """Run ``command`` as a user typing it: over the socket, or POSTed to ``request_url`` (HTTP mode).

        Returns once the app acknowledged or Slack's 3 s deadline passed; responses sent to the
        response_url keep arriving in ``result.responses`` (see ``wait_responses``).
        For HTTP mode the request is signed with ``signing_secret`` (default: the fake's),
        or carries ``signature`` verbatim.
        """
        if user not in self.users:
            self.add_user(user, user.lower())
        cmd_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(16)
        response_url = f"{self.url}commands/{self.team_id}/{cmd_id}/{secret}"
        result = SlashResult(command, text, channel, user, response_url)
        self._response_urls[f"{cmd_id}/{secret}"] = _ResponseUrl(result, time.monotonic())
        payload = self._command_payload(command, text, channel, user, response_url)
        if request_url is None:
            env = await self.send_envelope("slash_commands", payload)
            if env.acked:
                result.ack_seconds = env.ack_seconds
                result.ack_payload = env.payload
            else:
                result.user_error = "operation_timeout" if self._pick_connection() else "dispatch_failed"
        else:
            await self._post_command(result, payload, request_url, signing_secret, signature, timestamp)
        if result.ack_payload and (result.ack_payload.get("text") or result.ack_payload.get("blocks")):
            self._record_response(result, result.ack_payload, source="ack")
        return result

    def sign(self, body: str, *, timestamp: int | None = None, secret: str | None = None) -> dict[str, str]:
        """Slack's v0 request signature headers for ``body``."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        key = (self.signing_secret if secret is None else secret).encode()
        digest = hmac.new(key, f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
        return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}

    async def _post_command(
        self,
        result: SlashResult,
        payload: dict[str, str],
        url: str,
        secret: str | None,
        signature: str | None,
        timestamp: int | None,
    ) -> None:
        assert self.http_session is not None
        body = urlencode(payload)
        headers = self.sign(body, timestamp=timestamp, secret=secret)
        if signature is not None:
            headers["X-Slack-Signature"] = signature
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        headers["User-Agent"] = "Slackbot 1.0 (+https://api.slack.com/robots)"
        started = time.monotonic()
        try:
            async with (
                asyncio.timeout(self.ack_deadline),
                self.http_session.post(url, data=body.encode(), headers=headers) as resp,
            ):
                result.http_status = resp.status
                text = await resp.text()
        except TimeoutError:
            result.user_error = "operation_timeout"
            return
        except aiohttp.ClientError:
            result.user_error = "dispatch_failed"
            return
        if resp.status != 200:
            result.user_error = "dispatch_failed"
            return
        result.ack_seconds = time.monotonic() - started
        if text.strip():
            if resp.content_type == "application/json":
                result.ack_payload = json.loads(text)
            else:
                result.ack_payload = {"text": text}
        else:
            result.ack_payload = None

    def _record_response(
        self, result: SlashResult, body: dict[str, Any], *, source: Literal["ack", "response_url"]
    ) -> CommandResponse:
        resp = CommandResponse(
            response_type=str(body.get("response_type") or "ephemeral"),
            text=str(body.get("text") or ""),
            blocks=list(body.get("blocks") or []),
            replace_original=bool(body.get("replace_original")),
            delete_original=bool(body.get("delete_original")),
            thread_ts=body.get("thread_ts"),
            source=source,
        )
        result.responses.append(resp)
        where = (
            self.ephemerals[(result.channel, result.user)]
            if resp.ephemeral
            else self._messages[result.channel]
        )
        previous = result._shown
        if (resp.replace_original or resp.delete_original) and previous is not None:
            # Slack replaces (or deletes) the message this response_url posted last
            for box in (self.ephemerals[(result.channel, result.user)], self._messages[result.channel]):
                if previous in box:
                    if resp.delete_original:
                        box.remove(previous)
                        result._shown = None
                    else:
                        previous.history.append((previous.text, previous.blocks))
                        previous.text, previous.blocks = resp.text, resp.blocks
        else:
            msg = Message(
                result.channel,
                self._next_ts(),
                resp.text,
                resp.blocks,
                self.bot_user_id,
                self.bot_id,
                thread_ts=None if resp.ephemeral else resp.thread_ts,
                via="response_url",
            )
            where.append(msg)
            result._shown = msg
        result._changed.set()
        self._touch()
        return resp

    async def _response_url(self, request: web.Request) -> web.Response:
        key = f"{request.match_info['cmd']}/{request.match_info['secret']}"
        entry = self._response_urls.get(key)
        if entry is None or request.match_info["team"] != self.team_id:
            return web.Response(status=404, text="no_service")
        if time.monotonic() - entry.created > 30 * 60:
            return web.Response(status=404, text="expired_url")
        if entry.uses >= 5:
            return web.Response(status=404, text="used_url")
        try:
            body = await request.json()
        except ValueError:
            return web.Response(status=400, text="invalid_payload")
        if not isinstance(body, dict):
            return web.Response(status=400, text="invalid_payload")
        text = body.get("text")
        if not text and not body.get("blocks") and not body.get("delete_original"):
            return web.Response(status=400, text="no_text")
        if "blocks" in body and validate_blocks(body["blocks"]):
            return web.Response(status=400, text="invalid_blocks")
        if isinstance(text, str) and len(text) > MAX_TEXT:
            return web.Response(status=400, text="msg_too_long")
        entry.uses += 1
        self._record_response(entry.result, body, source="response_url")
        return web.Response(text="ok", content_type="text/html")

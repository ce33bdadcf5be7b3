"""Slack as a chat platform: Block Kit alerts, the /quote /news /watch commands, Socket Mode or HTTP.

``SlackAdapter`` implements ``bot.ports.ChatAdapter`` with slack_sdk's ``AsyncWebClient`` (pointed
at ``SLACK_API_URL`` when set, e.g. GovSlack) and binds a ``bot.ports.CommandHandler`` to the slash
commands with slack_bolt's ``AsyncApp``. With an app-level token it connects over Socket Mode
(the websocket URL comes from ``apps.connections.open`` on the same API base); otherwise it
serves ``POST /slack/events`` (see ``web_routes``) and bolt checks ``SLACK_SIGNING_SECRET``.

Retries: the Web API client has no retry handlers at all, so a 429 or a 5xx surfaces at once as
a retryable ``DeliveryError`` (with Retry-After) and the delivery outbox alone decides when to
try again; slack_sdk never retries behind its back, so nothing is sent twice or waits twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any, Literal

import aiohttp
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.chat import slack_http
from bot.chat.base import ChatPlatform
from bot.chat.slack_blocks import SlackMessage, alert_message, reply_message, text_only
from bot.commands.runner import CommandRunner, TaskSet, rich_then_plain
from bot.commands.spec import COMMAND_NAMES
from bot.config import Env
from bot.domain.errors import ConfigError, CredentialsRejected, DeliveryError
from bot.domain.models import Alert, Attachment, ChannelRef, CommandContext, MessageRef, Reply
from bot.domain.timeutil import SystemClock
from bot.ports import Clock, CommandHandler, CommandName

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://slack.com/api/"
COMMANDS: tuple[CommandName, ...] = COMMAND_NAMES  # from bot.commands.spec

# Errors after which retrying the same call cannot help; the subscription is marked broken.
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "no_permission",
        "missing_scope",
        "not_allowed_token_type",
        "team_access_not_granted",
        "restricted_action",
        "restricted_action_read_only_channel",
        "restricted_action_non_threadable_channel",
        "ekm_access_denied",
        "org_login_required",
        "access_denied",
        "team_not_found",
        "user_not_found",
        "message_not_found",
        "cant_update_message",
        "edit_window_closed",
    }
)
# Slack refused the message itself (not the channel): resend it as plain text once.
MESSAGE_REFUSED = frozenset(
    {"invalid_blocks", "invalid_blocks_format", "msg_too_long", "invalid_attachments", "too_many_attachments"}
)
AUTH_ERRORS = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"})
# Refusals of the bot's credentials themselves: every channel fails alike, so delivery to Slack
# pauses (nothing is marked failed or broken) until auth.test succeeds again.
PLATFORM_ERRORS = AUTH_ERRORS | {"not_allowed_token_type"}
# The scope every alert needs: without it every post fails, which is the app's problem, not a channel's.
POST_SCOPE = "chat:write"


# ---------------------------------------------------------------- errors


def _hint(code: str, method: str, channel: str | None, needed: str | None) -> str:
    where = f"Slack channel {channel}" if channel else "Slack"
    hints = {
        "channel_not_found": f"{where} was not found: the id is wrong, the channel was deleted, or it is "
        "private and the bot is not a member (invite it with /invite @marketbot)",
        "not_in_channel": f"the bot is not a member of {where}: invite it with /invite @marketbot in that channel",
        "is_archived": f"{where} is archived: unarchive it, or unsubscribe it from its watchlists",
        "invalid_auth": "Slack rejected SLACK_BOT_TOKEN (invalid_auth): copy the Bot User OAuth Token "
        "(xoxb-…) from your app's OAuth & Permissions page",
        "not_authed": "no Slack token was sent: set SLACK_BOT_TOKEN",
        "account_inactive": "the Slack bot user is deactivated (the app was removed): reinstall the app and "
        "update SLACK_BOT_TOKEN",
        "token_revoked": "the Slack bot token was revoked (the app was uninstalled?): reinstall the app and "
        "update SLACK_BOT_TOKEN",
        "token_expired": "the Slack bot token expired (token rotation is on): turn rotation off or reinstall "
        "the app and update SLACK_BOT_TOKEN",
        "not_allowed_token_type": "SLACK_BOT_TOKEN is not a bot token: copy the Bot User OAuth Token "
        "(xoxb-…) from your app's OAuth & Permissions page",
        "missing_scope": f"the Slack app lacks the scope {needed or '?'} for {method}: add it (see "
        "config/slack-app-manifest.yaml) and reinstall the app",
        "ratelimited": f"Slack rate-limited {method}",
    }
    return hints.get(
        code, f"Slack refused {method}" + (f" for channel {channel}" if channel else "") + f": {code}"
    )


def _retry_after(headers: Any) -> float | None:
    if not headers:
        return None
    value = headers.get("Retry-After") or headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return None


def delivery_error(exc: BaseException, *, method: str, channel: str | None = None) -> DeliveryError:
    """Map a slack_sdk / aiohttp failure to a DeliveryError that says whether retrying can help."""
    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, SlackApiError):
        resp = exc.response
        status = int(getattr(resp, "status_code", 0) or 0)
        data = resp.data if isinstance(getattr(resp, "data", None), dict) else {}
        code = str(data.get("error") or (f"http_{status}" if status else "unknown_error"))
        if status == 429 or code in ("ratelimited", "rate_limited"):
            after = _retry_after(getattr(resp, "headers", None))
            wait = f"; retry after {after:g} s" if after is not None else ""
            return DeliveryError(
                f"Slack rate-limited {method}{wait}", retryable=True, retry_after=after, code="ratelimited"
            )
        if status >= 500:
            return DeliveryError(
                f"Slack answered HTTP {status} to {method}; will retry",
                retryable=True,
                retry_after=_retry_after(getattr(resp, "headers", None)),
                code=code,
            )
        needed = data.get("needed")
        message = _hint(code, method, channel, str(needed) if needed else None)
        if code in PLATFORM_ERRORS or (code == "missing_scope" and needed == POST_SCOPE):
            setting = "the Slack app's chat:write scope" if code == "missing_scope" else "SLACK_BOT_TOKEN"
            return CredentialsRejected(message, platform="slack", setting=setting, code=code)
        return DeliveryError(
            message, retryable=code not in PERMANENT_ERRORS and code not in MESSAGE_REFUSED, code=code
        )
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return DeliveryError(
            f"Slack did not answer {method} in time; will retry", retryable=True, code="timeout"
        )
    if isinstance(exc, aiohttp.ClientError | OSError | SlackClientError):
        return DeliveryError(
            f"cannot reach Slack for {method}: {exc}; will retry", retryable=True, code="connection_error"
        )
    return DeliveryError(f"Slack {method} failed: {exc}", retryable=True, code="unexpected")


async def _read_capped(request: web.Request, limit: int) -> bytes:
    """The raw body, refusing (413) anything over ``limit`` bytes without reading the rest."""
    if request.content_length is not None and request.content_length > limit:
        raise slack_http.RequestRefused(413, f"the body is larger than {limit // 1024} KiB")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > limit:
                raise slack_http.RequestRefused(413, f"the body is larger than {limit // 1024} KiB")
            chunks.append(chunk)
    except (aiohttp.ClientPayloadError, HttpProcessingError, ConnectionError, ValueError) as exc:
        raise slack_http.RequestRefused(400, f"the body could not be read ({type(exc).__name__})") from None
    return b"".join(chunks)


def _granted_scopes(resp: Any) -> set[str] | None:
    """The bot token's scopes from Slack's ``x-oauth-scopes`` header (None when not sent)."""
    headers = getattr(resp, "headers", None) or {}
    value = next((v for k, v in dict(headers).items() if str(k).lower() == "x-oauth-scopes"), None)
    if value is None:
        return None
    if isinstance(value, list | tuple):
        value = ",".join(str(v) for v in value)
    return {s.strip() for s in str(value).split(",") if s.strip()}


class _QuietBoltWarnings(logging.Filter):
    """Drop bolt's notice that SLACK_BOT_TOKEN in the environment is unused (we hand it a client)."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        return "`token` will be unused" not in msg and "`token` (or SLACK_BOT_TOKEN" not in msg


def _refused(exc: Exception) -> bool:
    """Slack refused the message itself (its blocks or size), not the channel or the token."""
    return isinstance(exc, DeliveryError) and exc.code in MESSAGE_REFUSED


def _unescape_command_text(text: str) -> str:
    """Slack escapes ``&``, ``<`` and ``>`` in slash-command text; give handlers what the user typed."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


@dataclasses.dataclass(frozen=True, slots=True)
class SlackIdentity:
    """Who the bot is in the workspace (from auth.test)."""

    team_id: str | None
    team: str | None
    bot_user_id: str | None
    bot_id: str | None
    user: str | None
    url: str | None


# ---------------------------------------------------------------- the adapter


class SlackAdapter(ChatPlatform):
    """Slack ChatAdapter and slash-command front end.

    Use ``async with SlackAdapter(...)`` (or ``start()`` / ``aclose()``); nothing keeps running
    after ``aclose()``. ``bind_commands`` attaches the shared command handler; until then slash
    commands answer that the bot is starting.
    """

    platform = "slack"
    channel_rate = (1, 1.0)

    def __init__(
        self,
        *,
        bot_token: str,
        app_token: str | None = None,
        signing_secret: str | None = None,
        api_url: str | None = None,
        commands: CommandHandler | None = None,
        admins: Collection[str] = (),
        clock: Clock | None = None,
        timeout: float = 10.0,
        ping_interval: float = 10.0,
        connect_timeout: float = 15.0,
        command_timeout: float = 120.0,
        admin_cache_ttl: float = 300.0,
        shutdown_grace: float = 5.0,
        listen: bool = True,
    ) -> None:
        if not bot_token:
            raise ConfigError(
                "SLACK_BOT_TOKEN is not set: copy the Bot User OAuth Token (xoxb-…) of your Slack app"
            )
        if listen and not app_token and not signing_secret:
            raise ConfigError(
                "Slack needs SLACK_APP_TOKEN (Socket Mode, no public URL needed) or SLACK_SIGNING_SECRET "
                "(HTTP mode at /slack/events): set one of them"
            )
        api_url = (api_url or DEFAULT_API_URL).strip()
        if not api_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"SLACK_API_URL={api_url!r} is not an http(s) URL, e.g. https://slack-gov.com/api/"
            )
        if not api_url.endswith("/"):
            api_url += "/"
        # send-only (listen False): post and edit, but take no slash commands (e.g. `poll --once`)
        self.mode: Literal["socket", "http", "send"] = (
            "send" if not listen else "socket" if app_token else "http"
        )
        self.api_url = api_url
        self._bot_token = bot_token
        self._app_token = app_token
        self._signing_secret = signing_secret or ""
        self._commands = commands
        self._admins = frozenset(a.removeprefix("slack:") for a in admins)
        self._clock: Clock = clock or SystemClock()
        self._timeout = timeout
        self._ping_interval = ping_interval
        self._connect_timeout = connect_timeout
        self._admin_ttl = admin_cache_ttl
        self._admin_cache: OrderedDict[str, tuple[float, bool]] = OrderedDict()
        self._session: aiohttp.ClientSession | None = None
        self._client: AsyncWebClient | None = None
        self._app: AsyncApp | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._identity: SlackIdentity | None = None
        self._auth_problem: CredentialsRejected | None = None
        self._background = TaskSet()  # the socket's connect loop and watchdog
        # Slack's acknowledgement carries nothing: ack at once, answer through response_url
        self._runner = CommandRunner(
            platform="Slack",
            handler=lambda: self._commands,
            command_timeout=command_timeout,
            shutdown_grace=shutdown_grace,
            defer_after=None,
        )
        self._hello = asyncio.Event()
        self._started = False
        self._closed = False
        self.hellos = 0
        self.disconnects = 0
        self.refused: dict[int, int] = {}  # HTTP mode: refused requests by status
        self._last_refusal_log = -1e9

    # ------------------------------------------------------------ construction from settings

    @classmethod
    def from_settings(
        cls,
        env: Env,
        admins: Sequence[str] = (),
        *,
        commands: CommandHandler | None = None,
        clock: Clock | None = None,
        listen: bool = True,
    ) -> SlackAdapter:
        """Build from SLACK_BOT_TOKEN, SLACK_APP_TOKEN / SLACK_SIGNING_SECRET, SLACK_API_URL and the config's ``admins``."""
        admins = [a for a in admins if a.startswith("slack:")]
        return cls(  # without SLACK_BOT_TOKEN, __init__ says how to get one
            bot_token=env.slack_bot_token.get_secret_value() if env.slack_bot_token else "",
            app_token=env.slack_app_token.get_secret_value() if env.slack_app_token else None,
            signing_secret=env.slack_signing_secret.get_secret_value() if env.slack_signing_secret else None,
            api_url=env.slack_api_url,
            commands=commands,
            admins=admins,
            clock=clock,
            listen=listen,
        )

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Check the bot token (auth.test), set up bolt, and connect Socket Mode when configured.

        A rejected bot token does not stop start-up: it is logged with the fix and kept in
        ``auth_problem``, and delivery pauses until ``check_auth`` succeeds (a rejected app token
        raises ConfigError: without it no slash command can arrive). Slack being unreachable does
        not stop start-up either (alerts wait in the outbox, the socket keeps reconnecting).
        """
        if self._started:
            return
        self._started = True
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._timeout, connect=min(self._timeout, 5.0))
        )
        self._client = AsyncWebClient(
            token=self._bot_token,
            base_url=self.api_url,
            session=self._session,
            timeout=max(1, int(self._timeout)),
            retry_handlers=[],
            logger=log,
        )
        try:
            await self._identify()
        except BaseException:
            await self.aclose()
            raise
        if self.mode == "send":
            return
        bolt_log = logging.getLogger("bot.chat.slack.bolt")
        if not any(isinstance(f, _QuietBoltWarnings) for f in bolt_log.filters):
            bolt_log.addFilter(_QuietBoltWarnings())
        app_client = AsyncWebClient(
            base_url=self.api_url,
            session=self._session,
            timeout=max(1, int(self._timeout)),
            retry_handlers=[],
            logger=bolt_log,
        )

        # bolt passes arguments by parameter name and does not skip ``self`` for authorize: use closures
        async def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
            return await self._authorize(enterprise_id, team_id)

        async def on_command(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
            await self._on_command(ack, body, respond)

        self._app = AsyncApp(
            name="marketbot",
            logger=bolt_log,
            client=app_client,
            authorize=authorize,
            signing_secret=self._signing_secret,
            request_verification_enabled=self.mode == "http",
            process_before_response=False,
        )
        for name in COMMANDS:
            self._app.command(f"/{name}")(on_command)

        async def ignore_event() -> None:
            """The manifest subscribes to no events; acknowledge any that arrive so Slack stops retrying."""

        self._app.event(re.compile(".*"))(ignore_event)
        if self.mode == "socket":
            try:
                await self._connect_socket(app_client)
            except BaseException:
                await self.aclose()
                raise

    async def aclose(self) -> None:
        """Disconnect, let running commands finish briefly, then cancel what is left."""
        if self._closed:
            return
        self._closed = True
        self._runner.closed = True
        socket, self._socket = self._socket, None
        await self._background.cancel()
        if socket is not None:
            client = socket.client
            with contextlib.suppress(Exception):
                await socket.close_async()  # type: ignore[no-untyped-call]
            leftovers: list[asyncio.Future[Any]] = [
                f
                for f in (client.message_processor, client.current_session_monitor, client.message_receiver)
                if f is not None
            ]
            for f in leftovers:
                f.cancel()
            await asyncio.gather(*leftovers, return_exceptions=True)
        await self._runner.shutdown()
        self._client = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def identity(self) -> SlackIdentity | None:
        return self._identity

    @property
    def connected(self) -> bool:
        """True in HTTP mode once started; in Socket Mode while a websocket is open."""
        if self.mode == "http":
            return self._started and not self._closed
        socket = self._socket
        session = socket.client.current_session if socket is not None else None
        return session is not None and not session.closed and self._hello.is_set()

    def status(self) -> dict[str, Any]:
        """For health checks: mode, connection state, workspace, reconnect counts."""
        ident = self._identity
        return {
            "platform": "slack",
            "mode": self.mode,
            "connected": self.connected,
            "team_id": ident.team_id if ident else None,
            "bot_user_id": ident.bot_user_id if ident else None,
            "connections_opened": self.hellos,
            "disconnect_requests": self.disconnects,
            "refused_requests": {str(k): v for k, v in sorted(self.refused.items())},
            "auth": "ok" if self._auth_problem is None else f"rejected: {self._auth_problem}",
        }

    # ------------------------------------------------------------ identity and authorization

    @property
    def auth_problem(self) -> CredentialsRejected | None:
        """Why Slack refuses the bot token (seen at start-up or on a send), None while it works."""
        return self._auth_problem

    async def check_auth(self) -> None:
        """auth.test: raises CredentialsRejected while the token (or its chat:write scope) is refused.

        A retryable DeliveryError means Slack could not be asked. Success clears ``auth_problem``.
        """
        resp = await self._auth_test()
        scopes = _granted_scopes(resp)
        if scopes is not None and POST_SCOPE not in scopes:
            self._auth_problem = CredentialsRejected(
                _hint("missing_scope", "chat.postMessage", None, POST_SCOPE),
                platform="slack",
                setting="the Slack app's chat:write scope",
                code="missing_scope",
            )
            raise self._auth_problem
        self._remember_identity(resp)
        if self._auth_problem is not None:
            log.info(
                "Slack accepts SLACK_BOT_TOKEN again (workspace %s)", self._identity and self._identity.team
            )
        self._auth_problem = None

    async def _auth_test(self) -> AsyncSlackResponse:
        """auth.test's response; a refusal raises its DeliveryError, and a rejected token is
        remembered in ``auth_problem``."""
        client = self._require_client()
        try:
            return await client.auth_test()
        except Exception as exc:
            err = delivery_error(exc, method="auth.test")
            if isinstance(err, CredentialsRejected):
                self._auth_problem = err
            raise err from None

    async def _identify(self) -> SlackIdentity | None:
        known = self._auth_problem
        try:
            resp = await self._auth_test()
        except CredentialsRejected as err:
            if known is None:
                log.error(
                    "%s. Slack delivery is paused until Slack accepts the token again (alerts stay queued)",
                    err,
                    extra={"platform": "slack", "outcome": "paused"},
                )
            return None
        except DeliveryError as err:
            log.warning("Slack auth.test failed (%s); continuing, will retry when needed", err)
            return None
        return self._remember_identity(resp)

    def _remember_identity(self, resp: Any) -> SlackIdentity:
        self._identity = SlackIdentity(
            team_id=resp.get("team_id"),
            team=resp.get("team"),
            bot_user_id=resp.get("user_id"),
            bot_id=resp.get("bot_id"),
            user=resp.get("user"),
            url=resp.get("url"),
        )
        log.info("Slack: connected to workspace %s as @%s", self._identity.team, self._identity.user)
        return self._identity

    async def _authorize(self, enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
        """bolt's authorize hook: our single bot token, without a network call when auth.test ran at start."""
        ident = self._identity
        if ident is None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    ident = await self._identify()
        return AuthorizeResult(
            enterprise_id=enterprise_id,
            team_id=team_id or (ident.team_id if ident else None),
            team=ident.team if ident else None,
            url=ident.url if ident else None,
            bot_user_id=ident.bot_user_id if ident else None,
            bot_id=ident.bot_id if ident else None,
            bot_token=self._bot_token,
        )

    # ------------------------------------------------------------ Socket Mode

    async def _open_socket_url(self, client: AsyncWebClient) -> str:
        """apps.connections.open on SLACK_API_URL; a rejected app token is a ConfigError."""
        try:
            resp = await client.apps_connections_open(app_token=self._app_token or "")
        except Exception as exc:
            err = delivery_error(exc, method="apps.connections.open")
            if err.code in AUTH_ERRORS or err.code == "not_allowed_token_type":
                raise ConfigError(
                    f"Slack rejected SLACK_APP_TOKEN ({err.code}): create an app-level token (xapp-…) with the "
                    "connections:write scope under Basic Information → App-Level Tokens"
                ) from None
            raise err from exc
        return str(resp["url"])

    async def _connect_socket(self, app_client: AsyncWebClient) -> None:
        assert self._app is not None
        socket = AsyncSocketModeHandler(
            self._app,
            app_token=self._app_token,
            logger=logging.getLogger("bot.chat.slack.socket"),
            web_client=app_client,
            ping_interval=self._ping_interval,
        )
        self._socket = socket
        socket.client.message_listeners.append(self._on_socket_message)
        socket.client.on_message_listeners.append(self._on_socket_frame)
        try:
            socket.client.wss_uri = await self._open_socket_url(app_client)
        except DeliveryError as err:
            log.warning("Slack Socket Mode: %s; retrying in the background", err)
        self._background.spawn(socket.client.connect(), "slack-socket-connect")  # type: ignore[no-untyped-call]
        self._background.spawn(self._watchdog(), "slack-socket-watchdog")
        try:
            async with asyncio.timeout(self._connect_timeout):
                await self._hello.wait()
        except TimeoutError:
            log.warning(
                "Slack Socket Mode: no hello within %.0f s; still trying in the background",
                self._connect_timeout,
            )

    async def _on_socket_message(self, client: Any, message: dict[str, Any], raw: str | None) -> None:
        if message.get("type") == "hello":
            self.hellos += 1
            self._hello.set()
            info = message.get("debug_info") or {}
            log.info(
                "Slack Socket Mode connected (host %s, %s open connection(s))",
                info.get("host", "?"),
                message.get("num_connections", "?"),
            )

    async def _on_socket_frame(self, frame: aiohttp.WSMessage) -> None:
        """Raw frames: the SDK handles ``disconnect`` itself before message listeners see it."""
        data = frame.data
        if isinstance(data, str) and '"disconnect"' in data:
            try:
                message = json.loads(data)
            except ValueError:
                return
            if isinstance(message, dict) and message.get("type") == "disconnect":
                self.disconnects += 1
                log.info("Slack asked to reconnect (reason: %s); reconnecting", message.get("reason", "?"))

    async def _watchdog(self) -> None:
        """Unstick slack_sdk's connect loop: after a long outage, make it fetch a fresh websocket URL.

        The SDK retries ``connect()`` with the URL it already has; Slack's URLs are single-use and
        expire, so after a few failed checks we clear it and the next attempt calls
        apps.connections.open again.
        """
        down = 0
        while not self._closed:
            await asyncio.sleep(max(self._ping_interval, 0.1))
            socket = self._socket
            if socket is None:
                return
            try:
                ok = await socket.client.is_connected()
            except Exception:
                ok = False
            down = 0 if ok else down + 1
            if down >= 3:
                socket.client.wss_uri = None
                down = 0

    # ------------------------------------------------------------ HTTP mode

    def web_routes(self) -> list[tuple[str, str, Callable[[web.Request], Awaitable[web.StreamResponse]]]]:
        """``("POST", "/slack/events", handler)`` for ``bot.web.WebServer(routes=...)`` in HTTP mode.

        Empty in Socket Mode, so no unauthenticated endpoint is exposed when it is not needed.
        """
        if self.mode != "http":
            return []
        return [("POST", "/slack/events", self.handle_http)]

    async def handle_http(self, request: web.Request) -> web.Response:
        """One Slack request in HTTP mode: size, signature over the raw bytes, parse, then bolt.

        Unsigned or badly signed requests get 401 and are never parsed; malformed signed ones
        400, oversized ones 413 — each logged as one line at most (see ``bot.chat.slack_http``).
        """
        if self._app is None or self._closed:
            return web.Response(status=503, text="marketbot is not running")
        try:
            body = await _read_capped(request, slack_http.MAX_BODY_BYTES)
            slack_http.verify(request.headers, body, secret=self._signing_secret, now=time.time())
            text, parsed = slack_http.parse(body, request.content_type)
            for_bolt = slack_http.route(parsed)
        except slack_http.RequestRefused as refused:
            self._refused(refused, request)
            return web.Response(status=refused.status, text=refused.reason)
        if for_bolt is None:
            return web.Response(status=200)
        try:
            bolt_req = AsyncBoltRequest(body=text, query=request.query_string, headers=dict(request.headers))
            # what bolt sees is what we parsed and checked (its own parser, for one, drops a
            # command whose text merely contains the word "payload")
            bolt_req.body = for_bolt
            bolt_req.context = build_async_context(AsyncBoltContext({}), for_bolt)
            bolt_resp = await self._app.async_dispatch(bolt_req)
        except Exception as exc:
            # signed by Slack but not a shape bolt understands: the request's fault, not ours
            log.warning("Slack HTTP: a signed request could not be handled (%s: %s)", type(exc).__name__, exc)
            return web.Response(status=400, text="request not understood")
        return await to_aiohttp_response(bolt_resp)

    def _refused(self, refused: slack_http.RequestRefused, request: web.Request) -> None:
        """Count a refused request; one warning a minute at most (strangers must not fill the log)."""
        self.refused[refused.status] = self.refused.get(refused.status, 0) + 1
        now = time.monotonic()
        if now - self._last_refusal_log < 60.0:
            log.debug("Slack HTTP: refused %s (%d)", refused.reason, refused.status)
            return
        self._last_refusal_log = now
        log.warning(
            "Slack HTTP: refused a request from %s with %d: %s (further refusals this minute are "
            "only counted; see refused_requests in /healthz)",
            request.remote or "?",
            refused.status,
            refused.reason,
        )

    # ------------------------------------------------------------ slash commands

    async def _on_command(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        """Translate a slash command for the runner: it acks at once (Slack's 3 s limit), then works."""
        body = dict(body)  # the answer comes later, from a task: keep our own copy
        raw = str(body.get("command", "")).lstrip("/").lower()
        name: CommandName = next((c for c in COMMANDS if c == raw), "watch")
        text = _unescape_command_text(str(body.get("text") or ""))

        async def acknowledge(_private: bool) -> bool:
            await ack()
            return True

        async def answer(reply: Reply, _acknowledged: bool) -> None:
            await self._answer_command(name, text, body, reply, respond)

        await self._runner.dispatch(
            name, text, context=lambda: self._context(body), acknowledge=acknowledge, answer=answer
        )

    async def _answer_command(
        self, name: CommandName, text: str, body: dict[str, Any], reply: Reply, respond: AsyncRespond
    ) -> None:
        channel_id = str(body.get("channel_id") or "")
        if name == "watch" and not reply.error and text.split()[:1] in (["subscribe"], ["sub"]):
            reply = await self._membership_note(reply, channel_id)
        await self._respond(respond, reply, command=name)
        if reply.attachments and not reply.private:
            problem = await self._upload(channel_id, reply.attachments, thread_ts=None)
            if problem:
                await self._respond(respond, Reply(text=problem, private=True, error=True), command=name)

    async def _context(self, body: dict[str, Any]) -> CommandContext:
        user = str(body.get("user_id") or "")
        team = body.get("team_id") or (self._identity.team_id if self._identity else None)
        channel = str(body.get("channel_id") or "")
        is_admin = await self.is_admin(user)
        return CommandContext(
            platform="slack",
            channel=ChannelRef("slack", channel, workspace=team),
            user=user,
            workspace=team,
            user_name=str(body.get("user_name") or ""),
            is_admin=is_admin,
            can_manage=is_admin,
        )

    async def is_admin(self, user: str) -> bool:
        """A config admin (``slack:U…``) or a workspace admin/owner per users.info (cached briefly)."""
        if not user:
            return False
        if user in self._admins:
            return True
        now = time.monotonic()
        cached = self._admin_cache.get(user)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            resp = await self._require_client().users_info(user=user)
            info = resp.get("user") or {}
            admin = bool(info.get("is_admin") or info.get("is_owner") or info.get("is_primary_owner"))
        except Exception as exc:
            log.warning(
                "Slack users.info for %s failed (%s); treating as not an admin",
                user,
                delivery_error(exc, method="users.info"),
            )
            return False
        self._admin_cache[user] = (now + self._admin_ttl, admin)
        self._admin_cache.move_to_end(user)
        while len(self._admin_cache) > 1000:
            self._admin_cache.popitem(last=False)
        return admin

    async def _membership_note(self, reply: Reply, channel_id: str) -> Reply:
        """After /watch subscribe: warn when the bot cannot post alerts in this channel yet."""
        if not channel_id or channel_id.startswith("D"):
            return reply
        bot = f"@{self._identity.user}" if self._identity and self._identity.user else "@marketbot"
        try:
            resp = await self._require_client().conversations_info(channel=channel_id)
            info = resp.get("channel") or {}
            if info.get("is_member", True) and not info.get("is_archived"):
                return reply
            problem = (
                "this channel is archived" if info.get("is_archived") else "I am not a member of this channel"
            )
        except Exception as exc:
            err = delivery_error(exc, method="conversations.info", channel=channel_id)
            if err.code != "channel_not_found":
                return reply
            problem = "I cannot see this private channel"
        note = f"Note: {problem}, so alerts cannot be posted here yet. Invite me with /invite {bot}."
        return dataclasses.replace(reply, text=f"{reply.text}\n\n{note}" if reply.text else note)

    async def _respond(self, respond: AsyncRespond, reply: Reply, *, command: str) -> None:
        response_type = "ephemeral" if reply.private else "in_channel"

        async def post(m: SlackMessage) -> None:
            resp = await respond(text=m.text, blocks=list(m.blocks) or None, response_type=response_type)
            if resp.status_code != 200:
                # response_url answers 400 when it refuses the blocks (it gives no error code)
                raise DeliveryError(
                    f"response_url answered {resp.status_code} {resp.body[:200]}",
                    retryable=False,
                    code="invalid_blocks" if resp.status_code == 400 else f"http_{resp.status_code}",
                )

        try:
            await rich_then_plain(
                reply_message(reply), send=post, plain=text_only, refused=_refused, what=f"Slack /{command}"
            )
        except Exception as exc:
            log.warning("Slack /%s: could not send the response (%s)", command, exc)

    async def _upload(
        self, channel: str, attachments: Sequence[Attachment], *, thread_ts: str | None
    ) -> str | None:
        """Upload files (charts) to a channel with files_upload_v2; returns a user-facing problem or None."""
        client = self._require_client()
        uploads = [
            {
                "file": a.data,
                "filename": a.filename,
                "title": a.title or a.filename,
                "alt_txt": a.title or a.filename,
            }
            for a in attachments
        ]
        try:
            await client.files_upload_v2(file_uploads=uploads, channel=channel, thread_ts=thread_ts)
        except Exception as exc:
            err = delivery_error(exc, method="files.completeUploadExternal", channel=channel)
            log.warning("Slack upload to %s failed: %s", channel, err)
            bot = f"@{self._identity.user}" if self._identity and self._identity.user else "@marketbot"
            if err.code in ("not_in_channel", "channel_not_found"):
                return f"I could not post the chart here: invite me with /invite {bot} and try again."
            return "The chart could not be uploaded; the rest of the answer is above."
        return None

    # ------------------------------------------------------------ ChatAdapter

    def render(self, message: Alert | Reply, *, in_thread: bool = False) -> SlackMessage:
        """The Block Kit message for an alert or a reply (what send() posts)."""
        if isinstance(message, Alert):
            return alert_message(message, now=self._clock.now(), in_thread=in_thread)
        return reply_message(message)

    async def send(
        self, message: Alert | Reply, *, target: ChannelRef, thread: MessageRef | None = None
    ) -> MessageRef:
        """Post to a channel, or into ``thread`` (a reply to a reply joins the same thread)."""
        client = self._require_client()
        if target.platform != "slack":
            raise DeliveryError(f"{target} is not a Slack channel", retryable=False, code="wrong_platform")
        # Only ``thread`` decides: the dispatcher passes None for a follow-up when the subscription
        # has threads off, even though the alert knows its story's message (``thread_of``).
        thread_ts = (thread.thread_id or thread.id) if thread is not None else None
        rendered = self.render(message, in_thread=thread_ts is not None)

        async def post(m: SlackMessage) -> AsyncSlackResponse:
            return await client.chat_postMessage(
                channel=target.channel,
                text=m.text,
                blocks=list(m.blocks) or None,
                thread_ts=thread_ts,
                unfurl_links=False,
                unfurl_media=False,
            )

        resp = await self._with_fallback("chat.postMessage", target.channel, rendered, post)
        ts = str(resp["ts"])
        if isinstance(message, Reply) and message.attachments:
            problem = await self._upload(target.channel, message.attachments, thread_ts=thread_ts)
            if problem:
                log.warning("Slack: attachments of a message to %s not posted: %s", target, problem)
        return MessageRef(channel=target, id=ts, thread_id=thread_ts)

    async def edit(self, ref: MessageRef, message: Alert | Reply) -> None:
        """Replace a message's content in place (late prices) with chat.update."""
        client = self._require_client()
        rendered = self.render(message, in_thread=ref.thread_id is not None)

        async def update(m: SlackMessage) -> AsyncSlackResponse:
            return await client.chat_update(
                channel=ref.channel.channel, ts=ref.id, text=m.text, blocks=list(m.blocks)
            )

        await self._with_fallback("chat.update", ref.channel.channel, rendered, update)

    async def _with_fallback(
        self,
        method: str,
        channel: str,
        rendered: SlackMessage,
        call: Callable[[SlackMessage], Awaitable[AsyncSlackResponse]],
    ) -> AsyncSlackResponse:
        """Call; if Slack refuses the blocks themselves, send the same content as plain text once."""

        async def mapped(m: SlackMessage) -> AsyncSlackResponse:
            try:
                return await call(m)
            except Exception as exc:
                err = delivery_error(exc, method=method, channel=channel)
                if isinstance(err, CredentialsRejected):
                    self._auth_problem = err
                raise err from exc

        return await rich_then_plain(
            rendered, send=mapped, plain=text_only, refused=_refused, what=f"Slack {method} to {channel}"
        )

    def _require_client(self) -> AsyncWebClient:
        if self._client is None:
            raise DeliveryError("the Slack adapter is not running", retryable=True, code="not_started")
        return self._client


__all__ = ["PERMANENT_ERRORS", "SlackAdapter", "SlackIdentity", "delivery_error"]

"""Slash commands injected as a user would, signed HTTP requests and response_url endpoints."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
from typing import Any, Literal
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from tests.fakes.slack.blocks import (
    MAX_TEXT,
    validate_blocks,
)
from tests.fakes.slack.state import (
    CommandResponse,
    Message,
    SlashResult,
    _ResponseUrl,
)


class SlashCommands:
    """Slash commands injected as a user would, signed HTTP requests and response_url endpoints (a part of ``FakeSlack``)."""

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

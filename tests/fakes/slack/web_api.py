"""The Web API: token and scope checks, chat.*, conversations.*, files.* and apps.connections.open."""

from __future__ import annotations

import asyncio
import json
import math
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from tests.fakes.slack.blocks import (
    MAX_TEXT,
    validate_blocks,
)
from tests.fakes.slack.state import (
    _METHODS,
    ApiCall,
    Channel,
    Message,
    Token,
    Upload,
)


class WebApi:
    """The Web API: token and scope checks, chat.*, conversations.*, files.* and apps.connections.open (a part of ``FakeSlack``)."""

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

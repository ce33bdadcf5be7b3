"""REST: interaction callbacks, followups and original responses."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from tests.fakes.discord.limits import (
    _BODY,
    _FILES,
    EPHEMERAL,
    LOADING,
    _validate_choices,
)
from tests.fakes.discord.state import (
    Interaction,
    Message,
)
from tests.fakes.discord.wire import (
    ApiError,
    RecordedFile,
    _invalid,
    snowflake_time,
)


class InteractionRoutes:
    """REST: interaction callbacks, followups and original responses (a part of ``DiscordFake``)."""

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

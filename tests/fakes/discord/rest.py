"""REST: identity, application commands, channels and messages."""

from __future__ import annotations

import re
import secrets
import time
from typing import Any

from aiohttp import web

from tests.fakes.discord.limits import (
    _BODY,
    _FILES,
    _MENTION_RE,
    ATTACH_FILES,
    CREATE_PUBLIC_THREADS,
    EMBED_LINKS,
    EPHEMERAL,
    INTENT_GUILDS,
    LOADING,
    MENTION_EVERYONE,
    READ_MESSAGE_HISTORY,
    SEND_MESSAGES,
    SEND_MESSAGES_IN_THREADS,
    VIEW_CHANNEL,
    _normalise_embed,
    _normalise_options,
    _validate_allowed_mentions,
    _validate_command,
    _validate_embeds,
)
from tests.fakes.discord.state import (
    Channel,
    Guild,
    Interaction,
    Message,
    User,
)
from tests.fakes.discord.wire import (
    ApiError,
    RecordedFile,
    _invalid,
    _iso,
    snowflake_time,
)


class RestRoutes:
    """REST: identity, application commands, channels and messages (a part of ``DiscordFake``)."""

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

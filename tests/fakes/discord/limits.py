"""Discord's numbers and rules: permission bits, intents, flags, and validation of commands,
messages, embeds and allowed mentions as Discord applies them."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from aiohttp import web

from tests.fakes.discord.wire import (
    ApiError,
    _invalid,
)

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

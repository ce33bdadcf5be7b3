"""Slack HTTP mode's front door: size, signature over the raw bytes, then (and only then) parsing.

Anyone who can reach ``/slack/events`` can send anything, so nothing is decoded, parsed or
logged at length before the request is proven to come from Slack:

1. the body is read up to ``MAX_BODY_BYTES`` (more: 413, without reading the rest);
2. ``X-Slack-Request-Timestamp`` must be a number within ``TOLERANCE`` seconds of now and
   ``X-Slack-Signature`` the v0 HMAC-SHA256 of ``v0:{timestamp}:{raw body}`` with the signing
   secret (else 401; https://api.slack.com/authentication/verifying-requests-from-slack);
3. a signed body must be UTF-8, either a form (``application/x-www-form-urlencoded``, whose
   ``payload`` field, when present, is a JSON object) or a JSON object (else 400);
4. only what marketbot handles goes on to slack_bolt, in the shape Slack documents
   (``route``): slash commands (their documented string fields only) and the Events API's
   ``url_verification``. Events and interactive payloads (marketbot subscribes to none and has
   no interactive components) and ``ssl_check`` pings are acknowledged directly; anything else
   is a 400. bolt itself is never shown a shape it could trip over.

Every refusal is a ``RequestRefused`` with a status and a one-line reason: no traceback, and
the caller decides how loudly to log it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

MAX_BODY_BYTES = 512 * 1024
TOLERANCE = 300  # seconds: Slack's own replay window
MAX_FORM_FIELDS = 200
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class RequestRefused(Exception):
    """A request that is not handled: ``status`` (400, 401, 413) and a one-line reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def verify(headers: Mapping[str, str], body: bytes, *, secret: str, now: float) -> None:
    """Check Slack's v0 signature over the raw bytes; raises RequestRefused(401) if it is not Slack's."""
    if not secret:
        raise RequestRefused(401, "no signing secret is configured")
    timestamp = headers.get("X-Slack-Request-Timestamp", "").strip()
    signature = headers.get("X-Slack-Signature", "").strip()
    if not timestamp or not signature:
        raise RequestRefused(401, "unsigned request (no X-Slack-Request-Timestamp / X-Slack-Signature)")
    if not _TIMESTAMP.fullmatch(timestamp):
        raise RequestRefused(401, "malformed X-Slack-Request-Timestamp")
    if abs(now - int(timestamp)) > TOLERANCE:
        raise RequestRefused(401, "stale or future X-Slack-Request-Timestamp (replayed request?)")
    if not _SIGNATURE.fullmatch(signature):
        raise RequestRefused(401, "malformed X-Slack-Signature")
    digest = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256)
    if not hmac.compare_digest("v0=" + digest.hexdigest(), signature):
        raise RequestRefused(401, "bad signature (wrong SLACK_SIGNING_SECRET, or not from Slack)")


def parse(body: bytes, content_type: str) -> tuple[str, dict[str, Any]]:
    """The body as text and as the dict Slack meant; raises RequestRefused(400) if malformed."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestRefused(400, "the body is not UTF-8") from None
    if content_type == "application/json":
        return text, _json_object(text, "the JSON body")
    if content_type != "application/x-www-form-urlencoded":
        raise RequestRefused(400, f"unsupported content type {content_type[:60]!r}")
    try:
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            strict_parsing=False,
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except (ValueError, UnicodeDecodeError):
        raise RequestRefused(400, "the form body is malformed") from None
    form = dict(pairs)
    if "payload" in form:
        return text, _json_object(form["payload"], "the payload field")
    return text, form


def _json_object(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise RequestRefused(400, f"{what} is not valid JSON") from None
    if not isinstance(value, dict):
        raise RequestRefused(400, f"{what} is not a JSON object")
    return value


# The fields of a slash command request (https://api.slack.com/interactivity/slash-commands)
COMMAND_FIELDS = frozenset(
    {
        "token",
        "team_id",
        "team_domain",
        "enterprise_id",
        "enterprise_name",
        "channel_id",
        "channel_name",
        "user_id",
        "user_name",
        "command",
        "text",
        "response_url",
        "trigger_id",
        "api_app_id",
        "is_enterprise_install",
    }
)


def route(body: dict[str, Any]) -> dict[str, Any] | None:
    """What to hand to slack_bolt for a signed, parsed body; None: acknowledge it with an empty 200.

    Raises RequestRefused(400) for anything Slack does not send to a slash-command app.
    """
    command = body.get("command")
    if isinstance(command, str):
        if not command.startswith("/") or not all(isinstance(body.get(k, ""), str) for k in COMMAND_FIELDS):
            raise RequestRefused(400, "malformed slash command")
        return {k: v for k, v in body.items() if k in COMMAND_FIELDS}
    if body.get("ssl_check") == "1":
        return None
    kind = body.get("type")
    if kind == "url_verification":
        if not isinstance(body.get("challenge"), str):
            raise RequestRefused(400, "url_verification without a challenge")
        return {
            "type": "url_verification",
            "challenge": body["challenge"],
            "token": str(body.get("token", "")),
        }
    if kind in ("event_callback", "app_rate_limited"):
        return None  # no events are subscribed: acknowledged so that Slack stops retrying
    if isinstance(kind, str) and kind in INTERACTIVE_TYPES:
        return None  # no interactive components: acknowledged, nothing to do
    raise RequestRefused(400, "not a request marketbot handles")


INTERACTIVE_TYPES = frozenset(
    {
        "block_actions",
        "block_suggestion",
        "interactive_message",
        "message_action",
        "shortcut",
        "view_submission",
        "view_closed",
        "dialog_submission",
        "dialog_cancellation",
        "dialog_suggestion",
        "workflow_step_edit",
    }
)

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

from tests.fakes.slack.blocks import (
    BLOCK_ID,
    CONTEXT_ELEMENTS,
    FIELD_TEXT,
    HEADER_TEXT,
    MAX_BLOCKS,
    MAX_FIELDS,
    MAX_TEXT,
    SECTION_TEXT,
    validate_blocks,
)
from tests.fakes.slack.rendering import Rendered, render_blocks, render_mrkdwn
from tests.fakes.slack.server import FakeSlack
from tests.fakes.slack.state import (
    DEFAULT_BOT_SCOPES,
    ApiCall,
    Channel,
    CommandResponse,
    EnvelopeResult,
    Failure,
    Message,
    SlashResult,
    SocketConnection,
    Token,
    Upload,
    User,
)

__all__ = [
    "BLOCK_ID",
    "CONTEXT_ELEMENTS",
    "DEFAULT_BOT_SCOPES",
    "FIELD_TEXT",
    "HEADER_TEXT",
    "MAX_BLOCKS",
    "MAX_FIELDS",
    "MAX_TEXT",
    "SECTION_TEXT",
    "ApiCall",
    "Channel",
    "CommandResponse",
    "EnvelopeResult",
    "Failure",
    "FakeSlack",
    "Message",
    "Rendered",
    "SlashResult",
    "SocketConnection",
    "Token",
    "Upload",
    "User",
    "render_blocks",
    "render_mrkdwn",
    "validate_blocks",
]

"""A Discord on 127.0.0.1 that the real discord.py talks to: REST v10 and the gateway websocket.

It behaves like Discord where our bot can tell the difference: bot-token auth, rate-limit
headers and 429s (with ``Via`` so discord.py trusts them), Missing Access / Unknown Channel /
Missing Permissions errors with Discord's codes, embed and command validation with Discord's
limits, interaction callbacks with the 3-second acknowledgement window, deferred responses whose
first follow-up edits the "thinking" message, message nonces, threads started from messages,
and a gateway with HELLO, heartbeats, IDENTIFY → READY → GUILD_CREATE, INTERACTION_CREATE,
RECONNECT, RESUME and invalid sessions, zlib-stream compressed when asked.

Several gateway sessions of one bot (replicas that each IDENTIFY) are served as Discord serves
them: every dispatch, each interaction included, goes to every session that is still resumable
(to its live connection, or buffered for a RESUME); a bot that closes with 1000 or 1001
ends its session. The first callback to an interaction wins; any other gets HTTP 400 with
code 40060 "Interaction has already been acknowledged", so a second answer is seen, recorded
and refused.

Test-side controls let a test act as a Discord user (``slash``, ``autocomplete``), script
failures (``fail``), break channels (``Channel.hide``/``deny``/``delete``), force reconnects,
and read back every request and what a user would see (``Message.visible``).

Run standalone for manual poking: ``python -m tests.fakes.discord`` prints the URLs.
"""

from tests.fakes.discord.limits import (
    ADMINISTRATOR,
    ALL_PERMISSIONS,
    API_PREFIX,
    ATTACH_FILES,
    BOT_DEFAULT,
    CREATE_PUBLIC_THREADS,
    EMBED_LINKS,
    EPHEMERAL,
    EVERYONE_DEFAULT,
    INTENT_GUILDS,
    LOADING,
    MANAGE_CHANNELS,
    MENTION_EVERYONE,
    PERMISSION_NAMES,
    PRIVILEGED_INTENTS,
    READ_MESSAGE_HISTORY,
    SEND_MESSAGES,
    SEND_MESSAGES_IN_THREADS,
    USE_APPLICATION_COMMANDS,
    VIEW_CHANNEL,
    validate_message,
)
from tests.fakes.discord.markdown import Rendered, render_markdown
from tests.fakes.discord.server import DiscordFake, pings
from tests.fakes.discord.state import (
    Channel,
    GatewayConnection,
    GatewaySession,
    Guild,
    Interaction,
    Member,
    Message,
    User,
    World,
)
from tests.fakes.discord.wire import (
    DISCORD_EPOCH_MS,
    ApiError,
    RecordedFile,
    RecordedRequest,
    UserCannotDoThat,
    snowflake_time,
)

__all__ = [
    "ADMINISTRATOR",
    "ALL_PERMISSIONS",
    "API_PREFIX",
    "ATTACH_FILES",
    "BOT_DEFAULT",
    "CREATE_PUBLIC_THREADS",
    "DISCORD_EPOCH_MS",
    "EMBED_LINKS",
    "EPHEMERAL",
    "EVERYONE_DEFAULT",
    "INTENT_GUILDS",
    "LOADING",
    "MANAGE_CHANNELS",
    "MENTION_EVERYONE",
    "PERMISSION_NAMES",
    "PRIVILEGED_INTENTS",
    "READ_MESSAGE_HISTORY",
    "SEND_MESSAGES",
    "SEND_MESSAGES_IN_THREADS",
    "USE_APPLICATION_COMMANDS",
    "VIEW_CHANNEL",
    "ApiError",
    "Channel",
    "DiscordFake",
    "GatewayConnection",
    "GatewaySession",
    "Guild",
    "Interaction",
    "Member",
    "Message",
    "RecordedFile",
    "RecordedRequest",
    "Rendered",
    "User",
    "UserCannotDoThat",
    "World",
    "pings",
    "render_markdown",
    "snowflake_time",
    "validate_message",
]

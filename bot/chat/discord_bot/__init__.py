"""Discord as a chat platform: embeds for alerts, /quote /news /watch as application commands.

``DiscordAdapter`` implements ``bot.ports.ChatAdapter`` with discord.py on the shared event
loop (``client.connect`` runs in a task; ``start``/``aclose`` or ``async with``) and binds a
``bot.ports.CommandHandler`` to an ``app_commands.CommandTree``. Only the Guilds intent is
requested (no privileged intents, no message content): commands arrive as interactions.

``DISCORD_API_URL`` and ``DISCORD_GATEWAY_URL`` replace discord.py's REST base
(``discord.http.Route.BASE``) and gateway (``DiscordWebSocket.DEFAULT_GATEWAY``) — for REST and
gateway proxies, and for tests on loopback. Both are process-wide in discord.py; ``aclose``
restores them.

Replicas: only one of them may hold a gateway session (Discord sends every interaction to every
session of the bot). ``standby=True`` starts an adapter that sends (REST) and has its commands
ready but leaves the gateway off; ``set_gateway(True/False)`` connects or closes the session
while sending keeps working — ``bot.cluster.GatewayLeader`` calls it on the replica that holds
the gateway lease.

Retries and rate limits: discord.py retries 429s itself (it sleeps ``retry_after`` and tries
again, up to five times, and waits ahead of time when a bucket is empty), and retries 500/502/
504 with a short backoff. The adapter surfaces a retryable ``DeliveryError`` only when
discord.py gives up — a wait longer than ``max_ratelimit_timeout`` (``RateLimited``, nothing
was sent) or retries exhausted — so the outbox's retry is the next attempt, never a second
copy of one discord.py already made. Every message also carries a nonce derived from the
alert's idempotency key with ``enforce_nonce``, so Discord itself drops a duplicate of a send
whose response was lost (a timeout) when the outbox retries it within a few minutes.


The package, by concern: ``adapter`` (gateway lifecycle, health, DiscordAdapter), ``send``
(posting and editing), ``commands`` (the command tree from ``bot.commands.spec`` and the
interaction glue), ``setup`` (endpoints, invites, command clean-up), ``errors`` (Discord's
refusals as DeliveryErrors).
"""

from __future__ import annotations

from bot.chat.discord_bot.adapter import DiscordAdapter
from bot.chat.discord_bot.commands import MSG_NEEDS_MANAGE, MSG_OUT_OF_DATE, build_tree
from bot.chat.discord_bot.errors import delivery_error, rejected_token
from bot.chat.discord_bot.send import DiscordSender, text_only
from bot.chat.discord_bot.setup import (
    DEFAULT_API_URL,
    DEFAULT_GATEWAY_URL,
    INVITE_PERMISSIONS,
    INVITE_SCOPES,
    api_base,
    clear_guild_commands,
    fetch_application_id,
    gateway_base,
    invite_url,
)
from bot.chat.discord_embeds import alert_message
from bot.commands.spec import WATCH_SUBCOMMANDS

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_GATEWAY_URL",
    "INVITE_PERMISSIONS",
    "INVITE_SCOPES",
    "MSG_NEEDS_MANAGE",
    "MSG_OUT_OF_DATE",
    "WATCH_SUBCOMMANDS",
    "DiscordAdapter",
    "DiscordSender",
    "alert_message",
    "api_base",
    "build_tree",
    "clear_guild_commands",
    "delivery_error",
    "fetch_application_id",
    "gateway_base",
    "invite_url",
    "rejected_token",
    "text_only",
]

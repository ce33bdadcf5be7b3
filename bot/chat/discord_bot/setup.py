"""Endpoints, invites and command clean-up: what `marketbot discord ...` and start-up need."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Final

import aiohttp
import discord

from bot.domain.errors import BotError, ConfigError

log = logging.getLogger(__name__)


DEFAULT_API_URL: Final = "https://discord.com/api/v10"
DEFAULT_GATEWAY_URL: Final = "wss://gateway.discord.gg/"

# What the invite asks for, and nothing more: post alerts (Send Messages), as embeds (Embed
# Links), with charts (Attach Files), and follow-ups in a thread on the alert (Create Public
# Threads, Send Messages in Threads). View Channel and Read Message History come from the
# @everyone role in a default server; a channel that denies them must grant them to the bot.
INVITE_PERMISSIONS: Final = discord.Permissions(
    send_messages=True,
    embed_links=True,
    attach_files=True,
    create_public_threads=True,
    send_messages_in_threads=True,
)
INVITE_SCOPES: Final = ("bot", "applications.commands")


def api_base(url: str | None) -> str:
    """The REST base with its API version, e.g. ``http://proxy:8080`` → ``http://proxy:8080/api/v10``."""
    if not url:
        return DEFAULT_API_URL
    url = url.strip().rstrip("/")
    if not re.match(r"^https?://[^\s/]+", url, re.IGNORECASE):
        raise ConfigError(
            f"DISCORD_API_URL={url!r} is not an http(s) URL; write e.g. https://discord.com/api/v10 "
            "or the base URL of your REST proxy"
        )
    if not re.search(r"/api/v\d+$", url):
        url += "/api/v10"
    elif not url.endswith("/api/v10"):
        raise ConfigError(f"DISCORD_API_URL={url!r}: marketbot speaks API v10; end the URL with /api/v10")
    return url


def gateway_base(url: str | None) -> str:
    """The gateway URL (``wss://…``); discord.py adds ``?v=10&encoding=json&compress=…`` itself."""
    if not url:
        return DEFAULT_GATEWAY_URL
    url = url.strip()
    if not re.match(r"^wss?://[^\s/]+", url, re.IGNORECASE):
        raise ConfigError(
            f"DISCORD_GATEWAY_URL={url!r} is not a ws:// or wss:// URL; write e.g. wss://gateway.discord.gg/"
        )
    return url


def invite_url(application_id: int) -> str:
    """The OAuth2 URL that adds the bot with its commands and exactly ``INVITE_PERMISSIONS``."""
    return discord.utils.oauth_url(application_id, permissions=INVITE_PERMISSIONS, scopes=INVITE_SCOPES)


async def fetch_application_id(token: str, *, api_url: str | None = None, timeout: float = 10.0) -> int:
    """The application (client) id of the bot token, from ``GET /oauth2/applications/@me``."""
    base = api_base(api_url)
    headers = {"Authorization": f"Bot {token.strip()}", "User-Agent": "marketbot (invite)"}
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
            session.get(f"{base}/oauth2/applications/@me", headers=headers) as resp,
        ):
            if resp.status == 401:
                raise ConfigError(
                    "Discord rejected DISCORD_BOT_TOKEN (401): copy the token from the Developer Portal "
                    "(your application → Bot → Reset Token), or pass --client-id"
                )
            if resp.status != 200:
                raise BotError(
                    f"Discord answered HTTP {resp.status} for the application; try again or pass --client-id"
                )
            data = await resp.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise BotError(
            f"cannot reach Discord at {base}: {exc or type(exc).__name__}; pass --client-id"
        ) from None
    return int(data["id"])


async def clear_guild_commands(
    token: str, guild_ids: Sequence[int], *, api_url: str | None = None, timeout: float = 10.0
) -> dict[int, str]:
    """Remove the bot's commands from servers (left behind after going back to global commands).

    Returns what happened per guild id: ``"cleared"`` or the reason it could not be.
    """
    base = api_base(api_url)
    app_id = await fetch_application_id(token, api_url=api_url, timeout=timeout)
    headers = {"Authorization": f"Bot {token.strip()}", "User-Agent": "marketbot (commands)"}
    out: dict[int, str] = {}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
            for gid in guild_ids:
                url = f"{base}/applications/{app_id}/guilds/{gid}/commands"
                async with session.put(url, json=[], headers=headers) as resp:
                    if resp.status == 200:
                        out[gid] = "cleared"
                    elif resp.status in (403, 404):
                        out[gid] = "the bot is not in that server (or lacks applications.commands there)"
                    else:
                        out[gid] = f"Discord answered HTTP {resp.status}"
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise BotError(f"cannot reach Discord at {base}: {exc or type(exc).__name__}") from None
    return out

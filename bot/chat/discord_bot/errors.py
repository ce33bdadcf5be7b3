"""How Discord's refusals become ``DeliveryError``s that say whether retrying can help."""

from __future__ import annotations

import asyncio
import logging
from typing import Final

import aiohttp
import discord

from bot.domain.errors import CredentialsRejected, DeliveryError

log = logging.getLogger(__name__)


# Discord JSON error codes (https://discord.com/developers/docs/topics/opcodes-and-status-codes)
ALREADY_ACKNOWLEDGED: Final = 40060
MISSING_ACCESS: Final = 50001
MISSING_PERMISSIONS: Final = 50013
UNKNOWN_CHANNEL: Final = 10003
UNKNOWN_GUILD: Final = 10004
UNKNOWN_MESSAGE: Final = 10008
CANNOT_DM: Final = 50007
WRONG_CHANNEL_TYPE: Final = 50024
INVALID_FORM_BODY: Final = 50035
THREAD_EXISTS: Final = 160004
THREAD_LOCKED: Final = 160005
THREAD_ARCHIVED: Final = 50083


# Discord's refusals that retrying cannot change: JSON code -> (our code, what happened and the
# fix), formatted with ``where`` (the channel), ``action`` and ``code``
_REFUSALS: Final[dict[int, tuple[str, str]]] = {
    MISSING_ACCESS: (
        "missing_access",
        "the bot cannot see {where} (Missing Access, 50001): add the bot to that channel, or "
        "give its role View Channel there; then resubscribe",
    ),
    MISSING_PERMISSIONS: (
        "missing_permissions",
        "the bot lacks a permission in {where} (Missing Permissions, 50013): give its role "
        "Send Messages, Embed Links, Attach Files, Create Public Threads and Send Messages in "
        "Threads there",
    ),
    UNKNOWN_CHANNEL: (
        "unknown_channel",
        "{where} does not exist (Unknown Channel, 10003): it was deleted or the id is wrong; "
        "unsubscribe it or fix the channel id",
    ),
    UNKNOWN_MESSAGE: (
        "unknown_message",
        "the message to {action} in {where} no longer exists (Unknown Message, 10008)",
    ),
    UNKNOWN_GUILD: (
        "unknown_guild",
        "the bot is no longer in the server of {where} (Unknown Guild, 10004): invite it again "
        "with the URL from `marketbot discord invite`",
    ),
    CANNOT_DM: ("cannot_dm", "Discord does not let the bot message that user ({where}, 50007)"),
    WRONG_CHANNEL_TYPE: (
        "wrong_channel_type",
        "{where} cannot take this (Cannot execute action on this channel type, 50024): "
        "subscribe a text channel",
    ),
    THREAD_LOCKED: ("thread_locked", "the thread in {where} is locked or archived ({code})"),
    THREAD_ARCHIVED: ("thread_locked", "the thread in {where} is locked or archived ({code})"),
    THREAD_EXISTS: ("thread_exists", "the thread already exists"),
}


def retry_after(exc: discord.HTTPException) -> float | None:
    headers = getattr(exc.response, "headers", None) or {}
    value = headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


def delivery_error(exc: BaseException, *, action: str, channel: int | str | None = None) -> DeliveryError:
    """Map a discord.py / aiohttp failure to a DeliveryError that says whether retrying can help.

    Missing Access (50001), Missing Permissions (50013), Unknown Channel (10003), a rejected
    token (401) and a refused message (400) are permanent; 429s that discord.py gave up on,
    5xx, timeouts and connection errors are retryable.
    """
    if isinstance(exc, DeliveryError):
        return exc
    where = f"Discord channel {channel}" if channel else "Discord"
    if isinstance(exc, discord.RateLimited):
        return DeliveryError(
            f"Discord rate-limited {action} in {where} for {exc.retry_after:.0f} s; will retry",
            retryable=True,
            retry_after=exc.retry_after,
            code="ratelimited",
        )
    if isinstance(exc, discord.HTTPException):
        status, code = exc.status, exc.code
        detail = (exc.text or "").strip().replace("\n", "; ")[:300]
        if status == 429:
            after = retry_after(exc)
            return DeliveryError(
                f"Discord rate-limited {action} in {where}; will retry",
                retryable=True,
                retry_after=after,
                code="ratelimited",
            )
        if code in _REFUSALS:
            ours, text = _REFUSALS[code]
            return DeliveryError(
                text.format(where=where, action=action, code=code), retryable=False, code=ours
            )
        if status == 401:
            return rejected_token()
        if status >= 500:
            return DeliveryError(
                f"Discord answered HTTP {status} to {action} in {where}; will retry",
                retryable=True,
                retry_after=retry_after(exc),
                code="server_error",
            )
        if status == 400:
            return DeliveryError(
                f"Discord refused to {action} in {where} (400, code {code}): {detail}",
                retryable=False,
                code="invalid_form_body" if code == INVALID_FORM_BODY else "bad_request",
            )
        return DeliveryError(
            f"Discord refused to {action} in {where} (HTTP {status}, code {code}): {detail}",
            retryable=status not in (403, 404),
            code=f"http_{status}",
        )
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return DeliveryError(
            f"Discord did not answer in time to {action} in {where}; will retry",
            retryable=True,
            code="timeout",
        )
    if isinstance(exc, aiohttp.ClientError | OSError):
        return DeliveryError(
            f"cannot reach Discord to {action}: {exc}; will retry", retryable=True, code="connection_error"
        )
    return DeliveryError(
        f"Discord: could not {action} in {where}: {exc!r}", retryable=True, code="unexpected"
    )


def rejected_token(how: str = "401 Unauthorized") -> CredentialsRejected:
    """Discord refuses DISCORD_BOT_TOKEN: delivery to all of Discord pauses until it works again."""
    return CredentialsRejected(
        f"Discord rejected DISCORD_BOT_TOKEN ({how}): the token was reset or the bot deleted; copy a "
        "new token from the Developer Portal (your application → Bot → Reset Token)",
        platform="discord",
        setting="DISCORD_BOT_TOKEN",
        code="unauthorized",
    )

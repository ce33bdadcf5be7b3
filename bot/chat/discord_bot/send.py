"""Posting and editing on Discord: embeds, the text fallback, nonces, threads and replies."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import io
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Final, Literal, TypeVar

import discord

from bot.chat.discord_bot.errors import delivery_error
from bot.chat.discord_embeds import (
    CONTENT,
    DiscordMessage,
    escape,
    plain,
    render,
)
from bot.commands.runner import rich_then_plain
from bot.domain.errors import CredentialsRejected, DeliveryError
from bot.domain.models import Alert, ChannelRef, MessageRef, Reply

log = logging.getLogger(__name__)

T = TypeVar("T")

NO_MENTIONS: Final = discord.AllowedMentions.none()
# a thread follow-up that fails with one of these is posted as a reply instead
_THREAD_FALLBACK: Final = frozenset(
    {"missing_permissions", "missing_access", "wrong_channel_type", "unknown_message", "thread_locked"}
)


def _nonce(key: str, purpose: str = "") -> str:
    """A stable nonce (≤ 25 characters) for an alert's idempotency key: Discord drops repeats."""
    return hashlib.blake2b(f"{key}\x00{purpose}".encode(), digest_size=12).hexdigest()


def _snowflake(value: str, what: str) -> int:
    if not value.isdigit():
        raise DeliveryError(
            f"{what} {value!r} is not a Discord id (a number like 112233445566778899)",
            retryable=False,
            code="bad_channel_id",
        )
    return int(value)


def _files(message: DiscordMessage) -> list[discord.File]:
    return [
        discord.File(io.BytesIO(a.data), filename=a.filename, description=(a.title or None))
        for a in message.attachments
    ]


def _embeds(message: DiscordMessage) -> list[discord.Embed]:
    return [discord.Embed.from_dict(e) for e in message.embeds]


def text_only(message: DiscordMessage) -> DiscordMessage:
    """The same content as plain message text: the fallback when Discord refuses an embed."""
    parts: list[str] = [message.content] if message.content else []
    for e in message.embeds:
        title = e.get("title", "")
        if title:
            parts.append(f"**{title}**" + (f" <{e['url']}>" if e.get("url") else ""))
        if e.get("description"):
            parts.append(e["description"])
        for f in e.get("fields", []):
            parts.append(f"{f['name']}: {f['value']}")
        if e.get("footer"):
            # footers are shown verbatim in an embed, but content is markdown: escape it here
            parts.append(escape(e["footer"].get("text", ""), 300))
    text = "\n".join(p for p in parts if p.strip()) or "—"
    if len(text) > CONTENT:
        text = text[: CONTENT - 1].rstrip("\\") + "…"
    return dataclasses.replace(message, content=text, embeds=())


def message_kwargs(message: DiscordMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"allowed_mentions": NO_MENTIONS}
    if message.content is not None:
        out["content"] = message.content
    if message.embeds:
        out["embeds"] = _embeds(message)
    files = _files(message)
    if files:
        out["files"] = files
    return out


def refused(exc: Exception) -> bool:
    """Discord refused the message itself (Invalid Form Body: an embed over a limit)."""
    return isinstance(exc, DeliveryError) and exc.code == "invalid_form_body"


class DiscordSender:
    """Sends and edits messages with the adapter's client (REST; no gateway needed).

    ``client`` returns the logged-in client or raises the DeliveryError that says why there is
    none; ``on_rejected`` hears of a refused token.
    """

    def __init__(
        self,
        *,
        client: Callable[[], discord.Client],
        request_timeout: float,
        followups: Literal["thread", "reply"],
        on_rejected: Callable[[CredentialsRejected], None],
    ) -> None:
        self._client = client
        self._request_timeout = request_timeout
        self._followups = followups
        self._on_rejected = on_rejected
        self._threads: OrderedDict[int, None] = OrderedDict()

    async def _call(self, coro: Awaitable[T], *, action: str, channel: int | str) -> T:
        try:
            async with asyncio.timeout(self._request_timeout):
                return await coro
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            err = delivery_error(exc, action=action, channel=channel)
            if isinstance(err, CredentialsRejected):
                self._on_rejected(err)
            raise err from exc

    async def _post(
        self,
        channel_id: int,
        message: DiscordMessage,
        *,
        nonce: str | None,
        reference: discord.MessageReference | None = None,
    ) -> discord.Message:
        """POST one message; if Discord refuses the embed itself, send the same content as text once."""
        client = self._client()
        channel = client.get_partial_messageable(channel_id)

        async def post(attempt: DiscordMessage) -> discord.Message:
            kwargs = message_kwargs(attempt)
            if nonce is not None:
                kwargs["nonce"] = nonce if attempt is message else _nonce(nonce, "text")
            if reference is not None:
                kwargs["reference"] = reference
            return await self._call(channel.send(**kwargs), action="send a message", channel=channel_id)

        return await rich_then_plain(
            message, send=post, plain=text_only, refused=refused, what=f"Discord message to {channel_id}"
        )

    async def send(
        self, message: Alert | Reply, *, target: ChannelRef, thread: MessageRef | None = None
    ) -> MessageRef:
        """Post to a channel; with ``thread``, in a thread on that message; with only
        ``alert.thread_of``, as a reply to that message in the channel.

        The thread is a public thread on the alert (created on first use; its id is the alert's
        message id); where threads are not allowed (permissions, channel type) it becomes a reply.
        """
        if target.platform != "discord":
            raise DeliveryError(f"{target} is not a Discord channel", retryable=False, code="wrong_platform")
        channel_id = _snowflake(target.channel, "channel id")
        rendered = render(message)
        nonce = _nonce(message.key) if isinstance(message, Alert) else None
        if thread is not None:
            parent_id = _snowflake(thread.thread_id or thread.id, "message id")
            return await self._send_followup(
                target, channel_id, parent_id, rendered, nonce=nonce, title=message.title
            )
        if isinstance(message, Alert) and message.thread_of:
            # no thread asked for (threads: off): a reply to the alert, in the channel
            parent_id = _snowflake(message.thread_of, "message id")
            return await self._reply_to(target, channel_id, parent_id, rendered, nonce=nonce)
        sent = await self._post(channel_id, rendered, nonce=nonce)
        return MessageRef(channel=target, id=str(sent.id))

    async def _send_followup(
        self,
        target: ChannelRef,
        channel_id: int,
        parent_id: int,
        rendered: DiscordMessage,
        *,
        nonce: str | None,
        title: str,
    ) -> MessageRef:
        if self._followups == "thread":
            try:
                await self._ensure_thread(channel_id, parent_id, title)
                sent = await self._post(parent_id, rendered, nonce=nonce)  # a thread's id is its message's id
                return MessageRef(channel=target, id=str(sent.id), thread_id=str(parent_id))
            except DeliveryError as err:
                if err.code not in _THREAD_FALLBACK:
                    raise
                log.info(
                    "Discord: no thread on %s in %s (%s); replying instead", parent_id, channel_id, err.code
                )
        return await self._reply_to(target, channel_id, parent_id, rendered, nonce=nonce)

    async def _reply_to(
        self,
        target: ChannelRef,
        channel_id: int,
        parent_id: int,
        rendered: DiscordMessage,
        *,
        nonce: str | None,
    ) -> MessageRef:
        """A reply (message_reference) to ``parent_id``; a plain message if that one is gone."""
        reference = discord.MessageReference(
            message_id=parent_id, channel_id=channel_id, fail_if_not_exists=False
        )
        sent = await self._post(
            channel_id, rendered, nonce=_nonce(nonce, "reply") if nonce else None, reference=reference
        )
        return MessageRef(channel=target, id=str(sent.id))

    async def _ensure_thread(self, channel_id: int, message_id: int, title: str) -> None:
        if message_id in self._threads:
            return
        client = self._client()
        name = plain(title, 100) or "Follow-ups"
        try:
            # the HTTP call rather than PartialMessage.create_thread, which needs the guild cached
            await self._call(
                client.http.start_thread_with_message(
                    channel_id, message_id, name=name, auto_archive_duration=1440
                ),
                action="start a thread",
                channel=channel_id,
            )
        except DeliveryError as err:
            if err.code != "thread_exists":
                raise
        self._threads[message_id] = None
        while len(self._threads) > 5000:
            self._threads.popitem(last=False)

    async def edit(self, ref: MessageRef, message: Alert | Reply) -> None:
        """Replace a message's content in place (late prices), with mentions still disabled."""
        client = self._client()
        in_thread = ref.thread_id is not None and ref.thread_id != ref.id
        channel_id = _snowflake(
            ref.thread_id if in_thread and ref.thread_id else ref.channel.channel, "channel id"
        )
        partial = client.get_partial_messageable(channel_id).get_partial_message(
            _snowflake(ref.id, "message id")
        )

        async def edit(attempt: DiscordMessage) -> None:
            kwargs: dict[str, Any] = {
                "content": attempt.content,
                "embeds": _embeds(attempt),
                "allowed_mentions": NO_MENTIONS,
            }
            files = _files(attempt)
            if files:
                kwargs["attachments"] = files
            await self._call(partial.edit(**kwargs), action="edit a message", channel=channel_id)

        await rich_then_plain(
            render(message),
            send=edit,
            plain=text_only,
            refused=refused,
            what=f"Discord edit in {channel_id}",
        )

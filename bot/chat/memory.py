"""An in-memory chat platform: records what it was asked to send and can be told to fail.

It is a real ChatAdapter (tests and ``--dry-run`` use it), not a mock: messages get ids,
threads and edits are tracked, and scripted DeliveryErrors are raised the way a platform
adapter raises them (rate limits with retry_after, outages, permanent channel errors).
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from bot.domain.errors import CredentialsRejected, DeliveryError
from bot.domain.models import Alert, ChannelRef, MessageRef, Reply


@dataclass
class Sent:
    """One message as the platform holds it (edits replace ``message``; ``history`` keeps all)."""

    ref: MessageRef
    target: ChannelRef
    message: Alert | Reply
    thread: MessageRef | None = None
    history: list[Alert | Reply] = field(default_factory=list)


class MemoryChat:
    """A ChatAdapter that keeps every message in memory."""

    def __init__(self, platform: str = "memory", *, channel_rate: tuple[int, float] = (1000, 1.0)) -> None:
        self.platform = platform
        self.channel_rate = channel_rate
        self.messages: list[Sent] = []
        self.attempts = 0
        self._ids = itertools.count(1)
        self._failures: dict[str | None, deque[DeliveryError]] = {}
        self.broken_channels: dict[str, DeliveryError] = {}
        self.rejected: CredentialsRejected | None = None
        self.auth_checks = 0
        # set: a send is accepted (the message is in the channel) but its answer waits for this
        self.answer_gate: asyncio.Event | None = None

    # ------------------------------------------------------------ scripting

    def fail_next(self, *errors: DeliveryError, channel: str | None = None) -> None:
        """Raise these errors, in order, on the next sends (to ``channel``, or to any channel)."""
        self._failures.setdefault(channel, deque()).extend(errors)

    def break_channel(self, channel: str, error: DeliveryError) -> None:
        """Every send to ``channel`` fails with ``error`` until ``repair_channel``."""
        self.broken_channels[channel] = error

    def repair_channel(self, channel: str) -> None:
        self.broken_channels.pop(channel, None)

    def reject_credentials(self, error: CredentialsRejected | None) -> None:
        """Every call fails with ``error`` (a revoked token) until called with None."""
        self.rejected = error

    @property
    def auth_problem(self) -> CredentialsRejected | None:
        return self.rejected

    async def check_auth(self) -> None:
        """The platform's "who am I": fails while the credentials are rejected."""
        self.auth_checks += 1
        if self.rejected is not None:
            raise self.rejected

    def status(self) -> dict[str, Any]:
        """Connected unless its credentials are being rejected."""
        return {
            "platform": self.platform,
            "connected": self.rejected is None,
            "auth": "ok" if self.rejected is None else f"rejected: {self.rejected}",
        }

    def _maybe_fail(self, channel: str) -> None:
        if self.rejected is not None:
            raise self.rejected
        if channel in self.broken_channels:
            raise self.broken_channels[channel]
        for key in (channel, None):
            queue = self._failures.get(key)
            if queue:
                raise queue.popleft()

    # ------------------------------------------------------------ ChatAdapter

    async def send(
        self, message: Alert | Reply, *, target: ChannelRef, thread: MessageRef | None = None
    ) -> MessageRef:
        self.attempts += 1
        self._maybe_fail(target.channel)
        ref = MessageRef(target, str(next(self._ids)), thread.id if thread else None)
        self.messages.append(Sent(ref=ref, target=target, message=message, thread=thread, history=[message]))
        if self.answer_gate is not None:
            await self.answer_gate.wait()
        return ref

    async def edit(self, ref: MessageRef, message: Alert | Reply) -> None:
        self.attempts += 1
        self._maybe_fail(ref.channel.channel)
        for sent in self.messages:
            if sent.ref.id == ref.id:
                sent.message = message
                sent.history.append(message)
                return
        raise DeliveryError(f"message {ref.id} not found", retryable=False, code="message_not_found")

    async def aclose(self) -> None:
        return None

    # ------------------------------------------------------------ what a user would see

    def in_channel(self, channel: str) -> list[Sent]:
        return [m for m in self.messages if m.target.channel == channel]

    def alerts(self, channel: str | None = None) -> list[Alert]:
        return [
            m.message
            for m in self.messages
            if isinstance(m.message, Alert) and (channel is None or m.target.channel == channel)
        ]

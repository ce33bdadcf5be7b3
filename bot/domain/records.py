"""Store records: what the database keeps about feeds, subscriptions, the outbox, platform pauses
and ingest hand-offs. Plain frozen values (pure domain), used by the ``Store`` ports in
``bot.ports`` and by the services and adapters that read or write them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from bot.domain.models import Alert, ChannelRef, NewsItem, Story, StorySource, SubscriptionOptions

FeedOrigin = Literal["config", "ticker", "yahoo", "chat"]


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """A feed as configured: the part of a feed's record that the config owns."""

    id: str
    name: str
    url: str
    origin: FeedOrigin = "config"
    interval: int = 120
    enabled: bool = True
    backfill: int = 0
    trusted: bool = True  # False for URLs from chat: SSRF guard applies


ChatFeedAdd = Literal["added", "name-taken", "url-taken", "limit"]


@dataclass(frozen=True, slots=True)
class ChatFeed:
    """A feed added from chat or the CLI, scoped to one workspace or guild (``scope``).

    ``feed_id`` names its row in the feeds table (polling state and health); it derives
    from the scope and the URL, so two workspaces adding one URL each see only their own.
    ``added_by`` is ``platform:user`` (or ``cli:NAME``).
    """

    scope: str
    name: str
    url: str
    feed_id: str
    interval: int
    added_by: str
    added_at: datetime

    @staticmethod
    def id_for(scope: str, url: str) -> str:
        """The feeds-table id of ``url`` added in ``scope``: ``chat:1a2b3c4d5e6f7a8b``."""
        digest = hashlib.sha256(f"{scope}\n{url.strip()}".encode()).hexdigest()
        return f"chat:{digest[:16]}"


@dataclass(frozen=True, slots=True)
class FeedState:
    """A feed's polling state, kept across restarts."""

    spec: FeedSpec
    etag: str | None = None
    last_modified: str | None = None
    last_status: str | None = None
    last_polled_at: datetime | None = None
    last_success_at: datetime | None = None
    first_success_at: datetime | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    disabled_reason: str | None = None
    next_poll_at: datetime | None = None
    items_seen: int = 0

    @property
    def id(self) -> str:
        return self.spec.id


@dataclass(frozen=True, slots=True)
class SubscriptionSpec:
    """A subscription as written in the config file."""

    watchlist: str
    channel: ChannelRef
    options: SubscriptionOptions = SubscriptionOptions()
    scope: str = "config"


OutboxStatus = Literal["pending", "claimed", "sent", "failed", "held", "folded", "dropped"]


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """An alert waiting to be sent to one subscription's channel."""

    key: str
    alert: Alert
    subscription_id: int | None
    due_at: datetime
    status: OutboxStatus = "pending"
    id: int | None = None
    attempts: int = 0
    first_attempt_at: datetime | None = None
    claimed_until: datetime | None = None
    claimed_by: str | None = None
    last_error: str | None = None
    message_id: str | None = None
    thread_id: str | None = None
    sent_at: datetime | None = None
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PlatformPause:
    """Delivery to a whole platform is paused: it rejects the bot's credentials.

    ``reason`` says what to fix (it names the setting, e.g. SLACK_BOT_TOKEN); ``checks`` counts
    the re-checks that still failed since ``since``.
    """

    platform: str
    code: str
    reason: str
    setting: str
    since: datetime
    checked_at: datetime | None = None
    checks: int = 0


@dataclass(frozen=True, slots=True)
class ChannelStats:
    """Delivery state of one subscription, for ``marketbot subscriptions``."""

    subscription_id: int
    queued: int = 0
    held: int = 0
    failed: int = 0
    last_delivery_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class HeldRelease:
    """What ``Store.fold_held`` did: rows folded, rows dropped as stale, entries queued instead."""

    folded: list[OutboxEntry] = field(default_factory=list)
    dropped: list[OutboxEntry] = field(default_factory=list)
    queued: list[OutboxEntry] = field(default_factory=list)


HandoffKind = Literal["story", "sources"]


@dataclass(frozen=True, slots=True)
class Handoff:
    """Delivery work a stored story still needs: its alerts ("story") or "also reported by" ("sources").

    Stored in the transaction that stores the story (or its new outlet) and finished by the alert
    pipeline once it has queued what is due, so a crash in between loses nothing.
    """

    story_id: str
    kind: HandoffKind
    due_at: datetime
    created_at: datetime | None = None


@dataclass(slots=True)
class IngestBatch:
    """What a poll wants stored atomically: items with their story, new stories, new sources,
    and the hand-offs to delivery that those stories need."""

    items: list[tuple[NewsItem, str]] = field(default_factory=list)
    new_stories: list[Story] = field(default_factory=list)
    new_sources: list[tuple[str, StorySource]] = field(default_factory=list)
    handoffs: list[Handoff] = field(default_factory=list)

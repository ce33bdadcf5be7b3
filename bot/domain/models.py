"""Core domain types: what the bot knows about news, watchlists, quotes and chat.

Everything here is pure data (frozen dataclasses with tz-aware UTC datetimes).
Slack, Discord, RSS and Yahoo shapes never appear here: adapters translate at the edge.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Literal


class TradingSession(enum.StrEnum):
    """Which part of the trading day a price belongs to (its label is user-facing)."""

    PRE = "pre-market"
    REGULAR = "regular"
    POST = "after hours"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class NewsItem:
    """One entry as one source published it, normalised.

    ``id`` is stable across polls (guid, else link, else hash of title + date) and
    scoped by ``feed_id``; ``canonical_url`` has tracking parameters removed.
    """

    id: str
    feed_id: str
    source: str
    title: str
    link: str
    canonical_url: str
    summary: str
    published_at: datetime
    fetched_at: datetime
    guid: str | None = None


@dataclass(frozen=True, slots=True)
class StorySource:
    """An outlet that carried a story (the first one, or a later "also reported by")."""

    source: str
    link: str
    seen_at: datetime


@dataclass(frozen=True, slots=True)
class Story:
    """A cluster of NewsItems reporting the same event; the unit that is alerted."""

    id: str
    title: str
    link: str
    canonical_url: str
    summary: str
    source: str
    published_at: datetime
    first_seen_at: datetime
    tickers: tuple[str, ...] = ()
    sources: tuple[StorySource, ...] = ()

    @property
    def text(self) -> str:
        """Title plus summary: what the rules match against."""
        return f"{self.title}\n{self.summary}" if self.summary else self.title


MatchMode = Literal["any", "all"]


@dataclass(frozen=True, slots=True)
class Watchlist:
    """What a channel cares about: tickers and keywords, or a boolean query.

    ``scope`` is ``"config"`` for watchlists from the config file (read-only from chat),
    else ``"<platform>:<workspace or guild id>"`` for watchlists created in chat.
    """

    name: str
    scope: str = "config"
    tickers: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    match: MatchMode = "any"
    query: str | None = None
    created_by: str | None = None

    @property
    def read_only(self) -> bool:
        return self.scope == "config"


@dataclass(frozen=True, slots=True)
class TermHit:
    """A matched term and where it matched (``title`` or ``summary``)."""

    term: str
    where: Literal["title", "summary"]


@dataclass(frozen=True, slots=True)
class Match:
    """A story that satisfies a watchlist, with its explanation."""

    story_id: str
    watchlist: str
    scope: str
    tickers: tuple[str, ...] = ()
    terms: tuple[str, ...] = ()
    hits: tuple[TermHit, ...] = ()


@dataclass(frozen=True, slots=True)
class Quote:
    """A price with its change against the previous regular close and its session."""

    symbol: str
    price: float | None
    previous_close: float | None
    change: float | None
    change_pct: float | None
    session: TradingSession | None
    as_of: datetime | None
    currency: str | None = None
    volume: int | None = None
    name: str | None = None
    reason: str | None = None  # why ``price`` is None, user-facing ("no such symbol", "timed out")

    @property
    def available(self) -> bool:
        return self.price is not None


@dataclass(frozen=True, slots=True, order=True)
class ChannelRef:
    """Where a message goes: ``console``, ``slack:C0123ABCD`` or ``discord:1122...``.

    ``workspace`` is the Slack team or Discord guild when known (scopes chat watchlists).
    It is deliberately not part of equality: a channel id is unique per platform.
    """

    platform: str
    channel: str
    workspace: str | None = field(default=None, compare=False)

    def __str__(self) -> str:
        if self.platform == "console" and self.channel in ("", "console"):
            return "console"
        return f"{self.platform}:{self.channel}"

    @classmethod
    def parse(cls, text: str) -> ChannelRef:
        """Parse ``console``, ``slack:C0123ABCD`` or ``discord:112233445566778899``."""
        from bot.domain.errors import ValidationError

        text = text.strip()
        if text == "console":
            return cls("console", "console")
        platform, sep, channel = text.partition(":")
        platform = platform.lower()
        if not sep or not channel:
            raise ValidationError(
                f"channel {text!r} is not one of console, slack:CHANNEL_ID, discord:CHANNEL_ID"
            )
        if platform == "slack":
            if not (channel[:1] in "CGD" and channel.isalnum() and channel.isupper() and len(channel) >= 9):
                raise ValidationError(
                    f"Slack channel id {channel!r} should look like C0123ABCD (open the channel's "
                    "details in Slack and copy the Channel ID at the bottom)"
                )
        elif platform == "discord":
            if not (channel.isdigit() and 15 <= len(channel) <= 21):
                raise ValidationError(
                    f"Discord channel id {channel!r} should be a snowflake like 112233445566778899 "
                    "(enable Developer Mode, right-click the channel, Copy Channel ID)"
                )
        elif platform in ("console", "memory"):
            pass
        else:
            raise ValidationError(
                f"unknown platform {platform!r} in channel {text!r}: use console, slack:ID or discord:ID"
            )
        return cls(platform, channel)


BriefingMode = Literal["none", "premarket"]


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily window (in the config's timezone) in which alerts are held, e.g. 22:00-06:00."""

    start: time
    end: time

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True, slots=True)
class SubscriptionOptions:
    """Per-subscription delivery options."""

    quiet_hours: QuietHours | None = None
    max_per_hour: int | None = None
    min_move_pct: float | None = None
    sessions: tuple[TradingSession, ...] = ()  # empty: every session
    mute_until: datetime | None = None
    threads: bool = True
    briefing: BriefingMode = "none"


SubscriptionState = Literal["active", "broken"]


@dataclass(frozen=True, slots=True)
class Subscription:
    """A channel subscribed to a watchlist."""

    id: int
    watchlist: str
    scope: str
    channel: ChannelRef
    options: SubscriptionOptions = SubscriptionOptions()
    origin: Literal["config", "chat"] = "config"
    state: SubscriptionState = "active"
    broken_reason: str | None = None
    created_by: str | None = None


@dataclass(frozen=True, slots=True)
class TickerLine:
    """One ticker shown in an alert; ``quote`` is None while the price is unavailable."""

    symbol: str
    quote: Quote | None = None
    in_watchlist: bool = True


AlertKind = Literal["story", "followup", "digest", "briefing", "move", "notice"]


@dataclass(frozen=True, slots=True)
class DigestEntry:
    """One line in a digest or briefing: a headline with its link and source."""

    title: str
    link: str
    source: str
    published_at: datetime | None = None
    tickers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Alert:
    """A platform-neutral message for one channel; adapters render it.

    ``key`` is the idempotency key: the outbox sends each key at most once.
    ``thread_of`` is the message a follow-up replies to (platform message id).
    ``watchlists`` names every watchlist a story alert matched in its channel (one message per
    story and channel); ``watchlist`` is the first of them. Use ``watchlist_names``.
    Every text field is raw (unescaped) feed text; renderers escape it for their platform.
    """

    key: str
    kind: AlertKind
    channel: ChannelRef
    watchlist: str
    title: str
    link: str = ""
    source: str = ""
    published_at: datetime | None = None
    summary: str = ""
    tickers: tuple[TickerLine, ...] = ()
    terms: tuple[str, ...] = ()
    story_id: str | None = None
    entries: tuple[DigestEntry, ...] = ()
    note: str = ""
    thread_of: str | None = None
    late: bool = False
    created_at: datetime | None = None
    watchlists: tuple[str, ...] = ()

    @property
    def watchlist_names(self) -> tuple[str, ...]:
        """Every watchlist this alert is for (``watchlists``, else the single ``watchlist``)."""
        return self.watchlists or ((self.watchlist,) if self.watchlist else ())


@dataclass(frozen=True, slots=True)
class ReplyField:
    label: str
    value: str


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    data: bytes
    content_type: str = "image/png"
    title: str = ""


@dataclass(frozen=True, slots=True)
class ReplyItem:
    """A bullet in a reply: plain text, linked when ``link`` is set, with an optional detail line."""

    text: str
    link: str = ""
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Reply:
    """What a command answers, platform-neutral; adapters render and escape it.

    All strings are plain text (no markup). ``private`` replies are shown only to the
    asker (Slack and Discord ephemeral messages); errors and help are private.
    """

    text: str = ""
    title: str = ""
    private: bool = False
    error: bool = False
    items: tuple[ReplyItem, ...] = ()
    fields: tuple[ReplyField, ...] = ()
    quotes: tuple[Quote, ...] = ()
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True, slots=True)
class CommandContext:
    """Who asked, where: what a command handler needs to know about the caller.

    ``workspace`` is the Slack team id or Discord guild id (None in DMs and on the console).
    ``is_admin`` is a workspace admin/owner (Slack) or a config admin; ``can_manage`` is
    Discord's Manage Channels permission (or Slack admin); handlers enforce permissions.
    """

    platform: str
    channel: ChannelRef
    user: str
    workspace: str | None = None
    user_name: str = ""
    is_admin: bool = False
    can_manage: bool = False
    can_manage_server: bool = False  # Discord's Manage Server: may add and remove feeds

    @property
    def scope(self) -> str:
        """The scope of watchlists created here: ``<platform>:<workspace>``."""
        return f"{self.platform}:{self.workspace or self.channel.channel}"


@dataclass(frozen=True, slots=True)
class MessageRef:
    """A message the platform accepted; ``id`` is Slack's ts or Discord's message id."""

    channel: ChannelRef
    id: str
    thread_id: str | None = None

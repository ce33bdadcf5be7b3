"""Ports: the narrow, domain-shaped interfaces between the core and the outside world.

Concrete implementations live in ``ingest``, ``market``, ``chat`` and ``store``; only
``bot.app`` picks them. Arguments are keyword-only where more than one is taken.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any, Literal, Protocol, runtime_checkable

from bot.domain.cluster import Lease, Replica
from bot.domain.errors import CredentialsRejected
from bot.domain.models import (
    Alert,
    ChannelRef,
    CommandContext,
    MessageRef,
    NewsItem,
    Quote,
    Reply,
    Story,
    Subscription,
    SubscriptionOptions,
    TradingSession,
    Watchlist,
)
from bot.domain.records import (
    ChannelStats,
    ChatFeed,
    ChatFeedAdd,
    FeedSpec,
    FeedState,
    Handoff,
    HandoffKind,
    HeldRelease,
    IngestBatch,
    OutboxEntry,
    OutboxStatus,
    PlatformPause,
    SubscriptionSpec,
)
from bot.domain.status import QuoteSourceStatus


class Clock(Protocol):
    """Where "now" comes from; tests substitute a controlled clock."""

    def now(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class Job:
    """Scheduled work as a service describes it; ``bot.scheduler`` (the app layer) runs it.

    Exactly one of ``every`` (seconds), ``daily_at`` (a wall time in ``tz``) or ``at_start``
    says when. Runs never overlap and missed runs coalesce into one. A failure is logged in one
    line ending with ``on_error`` and the job runs again at its next turn.
    """

    name: str  # unique, e.g. "moves:poll"; with ``once_cluster_wide`` also the lease's name
    run: Callable[[], Awaitable[Any]]
    every: float | None = None
    daily_at: time | None = None
    tz: tzinfo | None = None
    at_start: bool = False
    first_in: float | None = None  # the first run this many seconds from now (default: after ``every``)
    jitter: float | None = None  # default: min(5 s, a tenth of ``every``)
    grace: float | None = None  # how late a run may still start (default: the scheduler's)
    once_cluster_wide: bool = False  # with several replicas only the holder of the job's lease runs a tick
    title: str = ""  # for logs: "poll Reuters", "pre-market briefing at 08:30"
    on_error: str = "it runs again at its next turn"

    def __post_init__(self) -> None:
        if sum((self.every is not None, self.daily_at is not None, self.at_start)) != 1:
            raise ValueError(f"job {self.name}: say exactly one of every, daily_at or at_start")


class JobHost(Protocol):
    """Where services put their jobs: the app's scheduler, or a test's."""

    def add(self, job: Job) -> None:
        """Schedule ``job`` (replacing one of the same name)."""
        ...

    def remove(self, name: str) -> None:
        """Unschedule the job of that name; nothing if there is none."""
        ...

    def run_at(self, name: str, when: datetime) -> None:
        """Move the job's next run to ``when`` (real time); nothing if there is no such job."""
        ...


class NewsSource(Protocol):
    """Something that yields normalised news items (a feed, Yahoo ticker news)."""

    @property
    def id(self) -> str: ...

    async def fetch(self) -> list[NewsItem]: ...


class QuoteSource(Protocol):
    """Prices. Symbols with no price get a Quote whose ``price`` is None, never an exception."""

    async def quotes(self, symbols: Sequence[str]) -> dict[str, Quote]: ...

    def status(self) -> QuoteSourceStatus:
        """A snapshot of the source's health: its circuit breaker, counters, last error."""
        ...


class MarketCalendar(Protocol):
    """Trading sessions of an exchange (pure computation, no network)."""

    def session_at(self, when: datetime, symbol: str | None = None) -> TradingSession | None:
        """The session at ``when`` for ``symbol`` (None: the primary exchange; None result: no label)."""
        ...

    def is_trading_day(self, day: date) -> bool: ...

    def previous_close(self, when: datetime) -> datetime:
        """The last regular-session close strictly before ``when``."""
        ...


class SessionDay(Protocol):
    """One trading day's regular session (``bot.market.sessions.SessionTimes`` satisfies it)."""

    @property
    def day(self) -> date: ...
    @property
    def open(self) -> datetime: ...
    @property
    def close(self) -> datetime: ...
    @property
    def early_close(self) -> bool: ...


class TradingCalendar(MarketCalendar, Protocol):
    """A MarketCalendar that also answers day-level questions (briefings and move alerts need them).

    ``exchange`` is the primary exchange's code (``XNYS``); dates are the exchange's local dates.
    """

    exchange: str

    def session_times(self, day: date) -> SessionDay | None:
        """The primary exchange's session on ``day``, or None when it does not trade."""
        ...

    def holiday_name(self, day: date) -> str | None:
        """The holiday that closes the exchange on a weekday (``Thanksgiving``), else None."""
        ...

    def previous_trading_day(self, day: date) -> date: ...

    def next_trading_day(self, day: date) -> date: ...

    def local_day(self, when: datetime) -> date:
        """The exchange's calendar date at the instant ``when``."""
        ...

    def trading_day_of(self, when: datetime, symbol: str | None = None) -> date:
        """The trading day whose prices are current at ``when`` (Saturday -> Friday)."""
        ...


class ChartSource(Protocol):
    """PNG charts of a symbol's last session."""

    async def chart(self, symbol: str) -> bytes: ...


@runtime_checkable
class ChatAdapter(Protocol):
    """A chat platform. Raises ``DeliveryError`` saying whether retrying can help.

    ``channel_rate`` is the platform's per-channel message budget as (messages, seconds),
    e.g. (1, 1.0) for Slack and (5, 5.0) for Discord; delivery throttles to it.
    """

    platform: str
    channel_rate: tuple[int, float]

    async def send(
        self, message: Alert | Reply, *, target: ChannelRef, thread: MessageRef | None = None
    ) -> MessageRef: ...

    async def edit(self, ref: MessageRef, message: Alert | Reply) -> None: ...

    def status(self) -> dict[str, Any]:
        """For health checks (JSON-ready): at least ``connected``; ``mode``/``gateway`` where they apply."""
        ...


@runtime_checkable
class AuthProbe(Protocol):
    """A chat adapter that can tell whether the platform accepts the bot's credentials.

    ``auth_problem`` is the rejection seen last (at start-up or on a send), None while the
    credentials work; ``check_auth`` asks the platform again (Slack ``auth.test``, Discord
    ``GET /users/@me``) and raises ``CredentialsRejected`` while they are refused, or a
    retryable ``DeliveryError`` when the platform cannot be reached.
    """

    @property
    def auth_problem(self) -> CredentialsRejected | None: ...

    async def check_auth(self) -> None: ...


# a slash command's name: one of bot.commands.spec.COMMANDS, the one list of them (adding a
# command changes nothing here; the adapters take the names from the spec)
CommandName = str
# what autocomplete can offer: watchlist names, symbols, trading sessions (a comma list)
CompleteKind = Literal["watchlist", "ticker", "session", "feed"]


@dataclass(frozen=True, slots=True)
class FeedCheck:
    """One test fetch of a feed URL through the SSRF guard: its items (newest first), or why not.

    ``error`` is one line that says what to fix (a blocked address, an HTML page, a body over
    the limit); a feed with an error is never added.
    """

    url: str
    final_url: str = ""
    title: str = ""
    items: tuple[NewsItem, ...] = ()
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class FeedTester(Protocol):
    """Fetch and parse an untrusted (chat-given) feed URL once, through the SSRF guard."""

    async def check(self, url: str) -> FeedCheck: ...


class CommandHandler(Protocol):
    """The platform-neutral slash-command entry point that chat adapters bind.

    ``text`` is everything the user typed after the command, as the platform gave it.
    Never raises for user errors: a malformed call answers a private usage Reply.
    """

    async def handle(self, ctx: CommandContext, command: CommandName, text: str) -> Reply: ...

    async def complete(self, ctx: CommandContext, kind: CompleteKind, prefix: str) -> list[str]:
        """Autocomplete choices (at most 25) for a watchlist name, a ticker or sessions."""
        ...


# ---------------------------------------------------------------- store records


# ---------------------------------------------------------------- the store, by capability
# Each service annotates the capabilities it uses (a Protocol combining them where it needs
# more than one); ``Store`` is all of them, what ``bot.store.SqlStore`` implements.


class FeedStore(Protocol):
    """Feeds: config feeds' specs and polling state, and feeds added from chat."""

    async def sync_feeds(self, feeds: Sequence[FeedSpec]) -> None: ...
    async def list_feeds(self) -> list[FeedState]: ...
    async def get_feed(self, feed_id: str) -> FeedState | None: ...
    async def save_feed_state(self, state: FeedState) -> None: ...
    async def save_feed_states(self, states: Sequence[FeedState], *, release: str | None = None) -> None:
        """Save many feeds' polling state in one transaction (a poll cycle's worth); ``release``
        (a replica id) gives that replica's claims on them back in the same statement."""
        ...

    # feeds added from chat, per workspace or guild
    async def list_chat_feeds(self, scope: str | None = None) -> list[ChatFeed]: ...
    async def add_chat_feed(self, feed: ChatFeed, *, limit: int) -> ChatFeedAdd:
        """Store a chat feed unless its scope has the name or URL already or is at ``limit``."""
        ...

    async def remove_chat_feed(self, scope: str, name: str) -> ChatFeed | None: ...


class NewsStore(Protocol):
    """Stored news: seen items, stories and their sources, and the hand-offs to delivery."""

    async def unseen_items(self, items: Sequence[NewsItem]) -> list[NewsItem]: ...
    async def save_ingest(self, batch: IngestBatch) -> None: ...
    async def set_story_tickers(self, story_id: str, tickers: Sequence[str]) -> None: ...
    async def recent_stories(self, since: datetime) -> list[Story]: ...
    async def get_story(self, story_id: str) -> Story | None: ...
    async def story_feeds(self, story_ids: Sequence[str]) -> dict[str, set[str]]:
        """The ids of the feeds whose items make up each story (stories without items are left out)."""
        ...

    async def get_stories(self, story_ids: Sequence[str]) -> list[Story]: ...
    async def stories(
        self, *, since: datetime | None = None, ticker: str | None = None, limit: int = 50
    ) -> list[Story]: ...

    # hand-offs from ingestion to delivery (see Handoff)
    async def pending_handoffs(self, *, due_before: datetime, limit: int = 500) -> list[Handoff]: ...
    async def finish_handoffs(
        self, story_ids: Sequence[str], *, kind: HandoffKind, as_of: datetime | None = None
    ) -> None:
        """Delete these hand-offs (with ``as_of``: only those not renewed after it)."""
        ...

    async def defer_handoff(self, story_id: str, *, kind: HandoffKind, due_at: datetime) -> None: ...


class WatchlistStore(Protocol):
    """Watchlists created in chat (config watchlists are not stored)."""

    async def list_watchlists(self, scope: str | None = None) -> list[Watchlist]: ...
    async def get_watchlist(self, scope: str, name: str) -> Watchlist | None: ...
    async def save_watchlist(self, watchlist: Watchlist) -> None: ...
    async def create_watchlist(self, watchlist: Watchlist) -> bool:
        """Store a new watchlist; False when the scope already has that name (race-safe)."""
        ...

    async def update_watchlist(
        self, scope: str, name: str, change: Callable[[Watchlist], Watchlist | None]
    ) -> tuple[Watchlist, Watchlist | None] | None:
        """Edit the stored copy under a row lock: ``change(current)`` → new or None (unchanged)."""
        ...

    async def delete_watchlist(self, scope: str, name: str) -> bool: ...


class SubscriptionStore(Protocol):
    """Subscriptions of channels to watchlists, from the config and from chat."""

    async def sync_config_subscriptions(self, specs: Sequence[SubscriptionSpec]) -> None: ...
    async def list_subscriptions(
        self, *, channel: ChannelRef | None = None, watchlist: str | None = None, scope: str | None = None
    ) -> list[Subscription]: ...
    async def get_subscription(self, subscription_id: int) -> Subscription | None: ...
    async def get_subscriptions(self, subscription_ids: Sequence[int]) -> dict[int, Subscription]: ...
    async def add_subscription(
        self, spec: SubscriptionSpec, *, created_by: str | None = None
    ) -> Subscription: ...
    async def remove_subscription(self, *, channel: ChannelRef, scope: str, watchlist: str) -> bool: ...
    async def update_subscription_options(
        self, subscription_id: int, options: SubscriptionOptions
    ) -> None: ...
    async def mark_subscription_broken(self, subscription_id: int, reason: str | None) -> None: ...


class OutboxStore(Protocol):
    """The outbox: alerts queued per channel, claimed, sent, retried, held and folded; and the
    platforms whose delivery is paused (they reject the bot's credentials)."""

    async def enqueue(self, entries: Sequence[OutboxEntry]) -> int: ...
    async def existing_keys(self, keys: Sequence[str]) -> set[str]: ...
    async def claim_due(
        self,
        *,
        now: datetime,
        limit: int,
        lease: timedelta,
        worker: str,
        per_channel: int = 1,
        per_platform: Mapping[str, int] | None = None,
        alive_since: datetime | None = None,
        live_margin: timedelta = timedelta(0),
        others: bool = True,
    ) -> list[OutboxEntry]: ...
    async def renew_claims(self, entry_ids: Sequence[int], *, worker: str, until: datetime) -> int: ...
    async def release_claims(self, entry_ids: Sequence[int], *, worker: str) -> int: ...
    async def recent_sends(self, windows: Mapping[str, int], *, worker: str) -> dict[str, list[datetime]]: ...
    async def mark_sent(self, entry_id: int, *, ref: MessageRef, now: datetime) -> None: ...
    async def mark_sent_many(self, sent: Sequence[tuple[int, MessageRef]], *, now: datetime) -> None: ...
    async def mark_retry(self, entry_id: int, *, due_at: datetime, error: str) -> None: ...
    async def mark_failed(self, entry_id: int, *, error: str, status: OutboxStatus = "failed") -> None: ...
    async def release_held(self, subscription_id: int, *, now: datetime) -> list[OutboxEntry]: ...
    async def held_entries(self, subscription_id: int | None = None) -> list[OutboxEntry]: ...
    async def count_sent_since(self, subscription_id: int, since: datetime) -> int: ...
    async def purge_outbox(self, *, before: datetime) -> int: ...
    async def sent_message(self, *, story_id: str, subscription_id: int) -> MessageRef | None: ...
    async def channel_stats(self) -> dict[int, ChannelStats]: ...

    async def fold_held(
        self,
        subscription_id: int,
        *,
        now: datetime,
        compose: Callable[[list[OutboxEntry]], Sequence[OutboxEntry]],
        drop_before: datetime | None = None,
        drop_reason: str = "dropped",
    ) -> HeldRelease: ...
    async def refresh_unsent(self, key: str, alert: Alert) -> OutboxStatus | None: ...
    async def sent_ref(self, key: str) -> MessageRef | None: ...
    async def story_deliveries(
        self, story_id: str, *, kinds: Sequence[str] = ("story",)
    ) -> list[OutboxEntry]: ...

    # platforms whose delivery is paused (they reject the bot's credentials)
    async def pause_platform(self, pause: PlatformPause) -> bool:
        """Record (or update) a pause; True when the platform was not paused before."""
        ...

    async def platform_pauses(self) -> dict[str, PlatformPause]: ...
    async def resume_platform(self, platform: str, *, now: datetime) -> int:
        """Clear the pause and make the alerts it deferred due now; returns how many."""
        ...

    async def defer_paused(self, entry_id: int, *, due_at: datetime, error: str) -> None:
        """Give a claimed row back untried: due at ``due_at``, attempts and retry window reset."""
        ...


class MarkerStore(Protocol):
    """Markers: "this happened once" (briefing sent, threshold crossed, follow-up throttle); and the
    operator notices announced and not yet announced as recovered."""

    async def add_marker(self, key: str, *, now: datetime) -> bool: ...
    async def has_marker(self, key: str) -> bool: ...
    async def count_markers(self, prefix: str) -> int: ...

    # operator notices: problems announced and not yet announced as recovered
    async def open_notices(self) -> dict[str, datetime]: ...
    async def set_notice_open(self, thing: str, *, now: datetime, is_open: bool) -> None: ...


class Store(FeedStore, NewsStore, WatchlistStore, SubscriptionStore, OutboxStore, MarkerStore, Protocol):
    """Domain operations on the database, every capability (``bot.store.SqlStore``). Claims are
    atomic across processes."""


class Coordination(Protocol):
    """Replicas on one database: heartbeats, named leases, feed claims, state versions.

    Implemented by ``bot.store.SqlStore`` (``bot.store.cluster``); see that module for how each
    decision stays atomic across processes.
    """

    async def heartbeat(self, replica: Replica) -> None: ...
    async def beat(self, replica: Replica, *, forget_before: datetime) -> list[Replica]: ...
    async def replicas(self) -> list[Replica]: ...
    async def forget_replica(self, replica_id: str) -> None: ...
    async def prune_replicas(self, *, before: datetime) -> int: ...
    async def acquire_lease(self, name: str, holder: str, *, now: datetime, ttl: float) -> Lease | None: ...
    async def acquire_leases(
        self, names: Iterable[str], holder: str, *, now: datetime, ttl: float
    ) -> dict[str, Lease]: ...
    async def release_lease(self, name: str, holder: str) -> bool: ...
    async def leases(self, prefix: str = "") -> list[Lease]: ...
    async def claim_due_feeds(
        self,
        holder: str,
        *,
        now: datetime,
        ttl: float,
        limit: int,
        only: Sequence[str] | None = None,
        due_by: datetime | None = None,
        alive_since: datetime | None = None,
    ) -> list[FeedState]: ...
    async def claim_feed(
        self, feed_id: str, holder: str, *, now: datetime, ttl: float, alive_since: datetime | None = None
    ) -> bool: ...
    async def release_feeds(self, feed_ids: Sequence[str], holder: str) -> None: ...
    async def feed_claims(self) -> dict[str, int]: ...
    def ingest_section(self) -> AbstractAsyncContextManager[None]:
        """Serialise dedup, clustering and storing across replicas (an advisory lock)."""
        ...

    async def bump_version(self, name: str, *, now: datetime, conn: Any = None) -> int: ...
    async def version(self, name: str) -> int: ...

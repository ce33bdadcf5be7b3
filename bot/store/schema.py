"""Tables (SQLAlchemy Core). The migration in ``migrations/versions`` must create exactly these;
``tests/contract/test_store_migrations.py`` checks that no drift creeps in.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timestamps stored as UTC and always returned tz-aware (SQLite keeps no zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# ---------------------------------------------------------------- news (ingestion)

feeds = sa.Table(
    "feeds",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("origin", sa.String(16), nullable=False, server_default="config"),
    sa.Column("interval", sa.Integer, nullable=False, server_default="120"),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("backfill", sa.Integer, nullable=False, server_default="0"),
    sa.Column("trusted", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("etag", sa.Text),
    sa.Column("last_modified", sa.Text),
    sa.Column("last_status", sa.Text),
    sa.Column("last_polled_at", UTCDateTime),
    sa.Column("last_success_at", UTCDateTime),
    sa.Column("first_success_at", UTCDateTime),
    sa.Column("last_error", sa.Text),
    sa.Column("consecutive_failures", sa.Integer, nullable=False, server_default="0"),
    sa.Column("disabled_reason", sa.Text),
    sa.Column("next_poll_at", UTCDateTime),
    sa.Column("items_seen", sa.Integer, nullable=False, server_default="0"),
    # several replicas: the one polling this feed now, and until when its claim holds
    sa.Column("lease_holder", sa.String(96)),
    sa.Column("lease_until", UTCDateTime),
)

items = sa.Table(
    "items",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),  # sha256(feed_id, item id)
    sa.Column("feed_id", sa.String(64), nullable=False),
    sa.Column("item_id", sa.Text, nullable=False),
    sa.Column("guid", sa.Text),
    sa.Column("link", sa.Text, nullable=False, server_default=""),
    sa.Column("canonical_url", sa.Text, nullable=False, server_default=""),
    sa.Column("title", sa.Text, nullable=False, server_default=""),
    sa.Column("content_key", sa.String(64), nullable=False),  # sha256(canonical url, normalised title)
    sa.Column("story_id", sa.String(64), nullable=False),
    sa.Column("published_at", UTCDateTime, nullable=False),
    sa.Column("fetched_at", UTCDateTime, nullable=False),
    # when a response of its feed last contained it (NULL: only when first fetched); refreshed at
    # most daily, so that retention never forgets an item its feed still serves
    sa.Column("last_seen_at", UTCDateTime),
    sa.Index(None, "content_key"),
    sa.Index(None, "story_id"),
    sa.Index(None, "feed_id", "fetched_at"),
)

stories = sa.Table(
    "stories",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("link", sa.Text, nullable=False, server_default=""),
    sa.Column("canonical_url", sa.Text, nullable=False, server_default=""),
    sa.Column("summary", sa.Text, nullable=False, server_default=""),
    sa.Column("source", sa.Text, nullable=False, server_default=""),
    sa.Column("published_at", UTCDateTime, nullable=False),
    sa.Column("first_seen_at", UTCDateTime, nullable=False),
    sa.Column("tickers", sa.JSON, nullable=False),
    sa.Index(None, "first_seen_at"),
    sa.Index(None, "published_at"),
    sa.Index(None, "canonical_url"),
)

story_tickers = sa.Table(
    "story_tickers",
    metadata,
    sa.Column("story_id", sa.String(64), primary_key=True),
    sa.Column("symbol", sa.String(16), primary_key=True),
    sa.Column("published_at", UTCDateTime, nullable=False),
    sa.Index(None, "symbol", "published_at"),
)

story_sources = sa.Table(
    "story_sources",
    metadata,
    sa.Column("story_id", sa.String(64), primary_key=True),
    sa.Column("source", sa.Text, primary_key=True),
    sa.Column("link", sa.Text, nullable=False, server_default=""),
    sa.Column("seen_at", UTCDateTime, nullable=False),
)

# A new story's alerts (kind "story") or a story's new outlets (kind "sources") that delivery has
# not finished with yet. Written in the ingest transaction that stores the story, deleted once the
# alert pipeline has queued what it must (or decided nothing is due); whatever a crash, a shutdown
# or a database error leaves here is finished at start-up and by a sweep every minute.
handoffs = sa.Table(
    "handoffs",
    metadata,
    sa.Column("story_id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(8), primary_key=True),
    sa.Column("due_at", UTCDateTime, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index(None, "due_at"),
)

# ---------------------------------------------------------------- watchlists and subscriptions

watchlists = sa.Table(
    "watchlists",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("scope", sa.String(128), nullable=False),
    sa.Column("name", sa.String(32), nullable=False),
    sa.Column("name_key", sa.String(32), nullable=False),  # lower-cased: names are case-insensitive
    sa.Column("tickers", sa.JSON, nullable=False),
    sa.Column("keywords", sa.JSON, nullable=False),
    sa.Column("exclude", sa.JSON, nullable=False),
    sa.Column("match", sa.String(8), nullable=False, server_default="any"),
    sa.Column("query", sa.Text),
    sa.Column("created_by", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("scope", "name_key"),
)

subscriptions = sa.Table(
    "subscriptions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("scope", sa.String(128), nullable=False),
    sa.Column("watchlist", sa.String(32), nullable=False),
    sa.Column("platform", sa.String(16), nullable=False),
    sa.Column("channel", sa.String(64), nullable=False),
    sa.Column("workspace", sa.String(64)),
    sa.Column("options", sa.JSON, nullable=False),
    sa.Column("origin", sa.String(8), nullable=False, server_default="chat"),
    sa.Column("state", sa.String(8), nullable=False, server_default="active"),
    sa.Column("broken_reason", sa.Text),
    sa.Column("created_by", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("last_delivery_at", UTCDateTime),
    sa.UniqueConstraint("platform", "channel", "scope", "watchlist"),
)

# feeds added from chat (/feed add, `marketbot feeds add`): scoped to a workspace or guild;
# ``feed_id`` is the id of their row in ``feeds`` (polling state, health)
chat_feeds = sa.Table(
    "chat_feeds",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("scope", sa.String(128), nullable=False),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("name_key", sa.String(64), nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("feed_id", sa.String(64), nullable=False),
    sa.Column("interval", sa.Integer, nullable=False),
    sa.Column("added_by", sa.Text, nullable=False),
    sa.Column("added_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("scope", "name_key"),
    sa.UniqueConstraint("scope", "feed_id"),
)

# ---------------------------------------------------------------- symbol directory

symbol_names = sa.Table(
    "symbol_names",
    metadata,
    sa.Column("source", sa.String(16), primary_key=True),  # "sec" (directory file), "quote" (Yahoo)
    sa.Column("symbol", sa.String(24), primary_key=True),
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("ident", sa.String(32)),  # the issuer's id at the source (SEC: CIK)
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index(None, "symbol"),
)

symbol_refresh = sa.Table(
    "symbol_refresh",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),  # "sec", "quote:NVDA"
    sa.Column("checked_at", UTCDateTime, nullable=False),  # last attempt
    sa.Column("succeeded_at", UTCDateTime),  # last attempt that got an answer
    sa.Column("etag", sa.Text),
    sa.Column("last_modified", sa.Text),
    sa.Column("status", sa.Text, nullable=False, server_default=""),
)

# ---------------------------------------------------------------- delivery

# The rows a claim walks (``OutboxStore.claim_due``): a partial index on ``(channel, id)`` holds
# only these, so the claim seeks each channel's next unsent row instead of sorting the backlog.
# Queries spell the predicate exactly like this (literals, not bound values): only then do the
# planners (SQLite, PostgreSQL) know the index covers them.
OUTBOX_UNSENT = "status IN ('pending', 'claimed')"
OUTBOX_UNSENT_INDEX = "ix_outbox_unsent"

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(200), nullable=False, unique=True),
    sa.Column("subscription_id", sa.Integer),
    sa.Column("channel", sa.String(96), nullable=False),  # "platform:channel", the ordering domain
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("story_id", sa.String(64)),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
    sa.Column("due_at", UTCDateTime, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("first_attempt_at", UTCDateTime),
    sa.Column("claimed_until", UTCDateTime),
    sa.Column("claimed_by", sa.String(128)),
    sa.Column("last_error", sa.Text),
    sa.Column("message_id", sa.String(64)),
    sa.Column("thread_id", sa.String(64)),
    sa.Column("sent_at", UTCDateTime),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index(None, "status", "due_at"),
    sa.Index(None, "channel", "status", "id"),
    sa.Index(None, "story_id", "subscription_id"),
    sa.Index(None, "created_at"),
    sa.Index(
        OUTBOX_UNSENT_INDEX,
        "channel",
        "id",
        sqlite_where=sa.text(OUTBOX_UNSENT),
        postgresql_where=sa.text(OUTBOX_UNSENT),
    ),
)

markers = sa.Table(
    "markers",
    metadata,
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index(None, "created_at"),
)

# ---------------------------------------------------------------- platforms

platform_pauses = sa.Table(
    "platform_pauses",
    metadata,
    sa.Column("platform", sa.String(16), primary_key=True),
    sa.Column("code", sa.String(64), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("setting", sa.String(64), nullable=False, server_default=""),
    sa.Column("since", UTCDateTime, nullable=False),
    sa.Column("checked_at", UTCDateTime),
    sa.Column("checks", sa.Integer, nullable=False, server_default="0"),
)

# ---------------------------------------------------------------- replicas (several processes on PostgreSQL)

replicas = sa.Table(
    "replicas",
    metadata,
    sa.Column("id", sa.String(96), primary_key=True),
    sa.Column("host", sa.Text, nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("version", sa.String(32), nullable=False),
    sa.Column("roles", sa.Text, nullable=False, server_default=""),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("heartbeat_at", UTCDateTime, nullable=False),
)

leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(160), primary_key=True),
    sa.Column("holder", sa.String(96), nullable=False),
    sa.Column("acquired_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("token", sa.Integer, nullable=False, server_default="1"),
)

state_versions = sa.Table(
    "state_versions",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False, server_default="0"),
    sa.Column("changed_at", UTCDateTime, nullable=False),
)

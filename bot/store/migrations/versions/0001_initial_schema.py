"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-26 21:29:15.714121
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.store.schema

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "feeds",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("origin", sa.String(length=16), server_default="config", nullable=False),
        sa.Column("interval", sa.Integer(), server_default="120", nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("backfill", sa.Integer(), server_default="0", nullable=False),
        sa.Column("trusted", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("last_modified", sa.Text(), nullable=True),
        sa.Column("last_status", sa.Text(), nullable=True),
        sa.Column("last_polled_at", bot.store.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", bot.store.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("first_success_at", bot.store.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("next_poll_at", bot.store.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("items_seen", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feeds")),
    )
    op.create_table(
        "items",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("feed_id", sa.String(length=64), nullable=False),
        sa.Column("item_id", sa.Text(), nullable=False),
        sa.Column("guid", sa.Text(), nullable=True),
        sa.Column("link", sa.Text(), server_default="", nullable=False),
        sa.Column("canonical_url", sa.Text(), server_default="", nullable=False),
        sa.Column("title", sa.Text(), server_default="", nullable=False),
        sa.Column("content_key", sa.String(length=64), nullable=False),
        sa.Column("story_id", sa.String(length=64), nullable=False),
        sa.Column("published_at", bot.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("fetched_at", bot.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_items")),
    )
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_items_content_key"), ["content_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_items_story_id"), ["story_id"], unique=False)

    op.create_table(
        "markers",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("created_at", bot.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_markers")),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=96), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("story_id", sa.String(length=64), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("due_at", bot.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("first_attempt_at", bot.store.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("claimed_until", bot.store.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=128), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("message_id", sa.String(length=64), nullable=True),
        sa.Column("thread_id", sa.String(length=64), nullable=True),
        sa.Column("sent_at", bot.store.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", bot.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("key", name=op.f("uq_outbox_key")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_outbox_channel_status_id"), ["channel", "status", "id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_outbox_status_due_at"), ["status", "due_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_outbox_story_id_subscription_id"), ["story_id", "subscription_id"], unique=False
        )

    op.create_table(
        "stories",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("link", sa.Text(), server_default="", nullable=False),
        sa.Column("canonical_url", sa.Text(), server_default="", nullable=False),
        sa.Column("summary", sa.Text(), server_default="", nullable=False),
        sa.Column("source", sa.Text(), server_default="", nullable=False),
        sa.Column("published_at", bot.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("first_seen_at", bot.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tickers", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stories")),
    )
    with op.batch_alter_table("stories", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stories_canonical_url"), ["canonical_url"], unique=False)
        batch_op.create_index(batch_op.f("ix_stories_first_seen_at"), ["first_seen_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_stories_published_at"), ["published_at"], unique=False)

    op.create_table(
        "story_sources",
        sa.Column("story_id", sa.String(length=64), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("link", sa.Text(), server_default="", nullable=False),
        sa.Column("seen_at", bot.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("story_id", "source", name=op.f("pk_story_sources")),
    )
    op.create_table(
        "story_tickers",
        sa.Column("story_id", sa.String(length=64), nullable=False),
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("published_at", bot.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("story_id", "symbol", name=op.f("pk_story_tickers")),
    )
    with op.batch_alter_table("story_tickers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_story_tickers_symbol_published_at"), ["symbol", "published_at"], unique=False
        )

    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("scope", sa.String(length=128), nullable=False),
        sa.Column("watchlist", sa.String(length=32), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("workspace", sa.String(length=64), nullable=True),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("origin", sa.String(length=8), server_default="chat", nullable=False),
        sa.Column("state", sa.String(length=8), server_default="active", nullable=False),
        sa.Column("broken_reason", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Text(), nullable=True),
        sa.Column("created_at", bot.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_delivery_at", bot.store.schema.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sa.UniqueConstraint(
            "platform",
            "channel",
            "scope",
            "watchlist",
            name=op.f("uq_subscriptions_platform_channel_scope_watchlist"),
        ),
    )
    op.create_table(
        "watchlists",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("scope", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("name_key", sa.String(length=32), nullable=False),
        sa.Column("tickers", sa.JSON(), nullable=False),
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("exclude", sa.JSON(), nullable=False),
        sa.Column("match", sa.String(length=8), server_default="any", nullable=False),
        sa.Column("query", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Text(), nullable=True),
        sa.Column("created_at", bot.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", bot.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watchlists")),
        sa.UniqueConstraint("scope", "name_key", name=op.f("uq_watchlists_scope_name_key")),
    )


def downgrade() -> None:

    op.drop_table("watchlists")
    op.drop_table("subscriptions")
    with op.batch_alter_table("story_tickers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_story_tickers_symbol_published_at"))

    op.drop_table("story_tickers")
    op.drop_table("story_sources")
    with op.batch_alter_table("stories", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stories_published_at"))
        batch_op.drop_index(batch_op.f("ix_stories_first_seen_at"))
        batch_op.drop_index(batch_op.f("ix_stories_canonical_url"))

    op.drop_table("stories")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_story_id_subscription_id"))
        batch_op.drop_index(batch_op.f("ix_outbox_status_due_at"))
        batch_op.drop_index(batch_op.f("ix_outbox_channel_status_id"))

    op.drop_table("outbox")
    op.drop_table("markers")
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_items_story_id"))
        batch_op.drop_index(batch_op.f("ix_items_content_key"))

    op.drop_table("items")
    op.drop_table("feeds")

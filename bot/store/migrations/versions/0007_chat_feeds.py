"""chat feeds: feeds added from chat or the CLI, scoped to a workspace or guild

Revision ID: 0007_chat_feeds
Revises: 0006_replicas
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.store.schema

revision = "0007_chat_feeds"
down_revision = "0006_replicas"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chat_feeds",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("scope", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("name_key", sa.String(length=64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("feed_id", sa.String(length=64), nullable=False),
        sa.Column("interval", sa.Integer(), nullable=False),
        sa.Column("added_by", sa.Text(), nullable=False),
        sa.Column("added_at", bot.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_feeds")),
        sa.UniqueConstraint("scope", "feed_id", name=op.f("uq_chat_feeds_scope_feed_id")),
        sa.UniqueConstraint("scope", "name_key", name=op.f("uq_chat_feeds_scope_name_key")),
    )


def downgrade() -> None:
    op.drop_table("chat_feeds")

"""symbol directory: company names per symbol and source, and when each source was refreshed

Revision ID: 0002_symbol_directory
Revises: 0001
Create Date: 2026-12-02 14:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.store.schema

revision = "0002_symbol_directory"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "symbol_names",
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("symbol", sa.String(length=24), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("ident", sa.String(length=32), nullable=True),
        sa.Column("updated_at", bot.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", "symbol", "name", name=op.f("pk_symbol_names")),
    )
    with op.batch_alter_table("symbol_names", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_symbol_names_symbol"), ["symbol"], unique=False)
    op.create_table(
        "symbol_refresh",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("checked_at", bot.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("succeeded_at", bot.store.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("last_modified", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_symbol_refresh")),
    )


def downgrade() -> None:
    op.drop_table("symbol_refresh")
    with op.batch_alter_table("symbol_names", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_symbol_names_symbol"))
    op.drop_table("symbol_names")

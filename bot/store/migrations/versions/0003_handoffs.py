"""handoffs: stories whose alerts (or new outlets) delivery has not finished with

Revision ID: 0003_handoffs
Revises: 0002_symbol_directory
Create Date: 2026-12-02 14:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.store.schema

revision = "0003_handoffs"
down_revision = "0002_symbol_directory"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "handoffs",
        sa.Column("story_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("due_at", bot.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", bot.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("story_id", "kind", name=op.f("pk_handoffs")),
    )
    with op.batch_alter_table("handoffs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_handoffs_due_at"), ["due_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("handoffs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_handoffs_due_at"))
    op.drop_table("handoffs")

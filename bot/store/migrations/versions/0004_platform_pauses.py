"""platform pauses: delivery to a platform that rejects the bot's credentials waits, nothing breaks

Revision ID: 0004_platform_pauses
Revises: 0003_handoffs
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.store.schema

revision = "0004_platform_pauses"
down_revision = "0003_handoffs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "platform_pauses",
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("setting", sa.String(length=64), server_default="", nullable=False),
        sa.Column("since", bot.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("checked_at", bot.store.schema.UTCDateTime(timezone=True), nullable=True),
        sa.Column("checks", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("platform", name=op.f("pk_platform_pauses")),
    )


def downgrade() -> None:
    op.drop_table("platform_pauses")

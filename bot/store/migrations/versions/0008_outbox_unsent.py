"""outbox: a partial index on (channel, id) of unsent rows, walked by the claim

Revision ID: 0008_outbox_unsent
Revises: 0007_chat_feeds
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_outbox_unsent"
down_revision = "0007_chat_feeds"
branch_labels = None
depends_on = None

# as bot.store.schema.OUTBOX_UNSENT (a migration keeps its own copy: the schema may change later)
UNSENT = "status IN ('pending', 'claimed')"


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_unsent",
            ["channel", "id"],
            unique=False,
            sqlite_where=sa.text(UNSENT),
            postgresql_where=sa.text(UNSENT),
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_unsent")

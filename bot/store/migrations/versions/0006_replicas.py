"""replicas: heartbeats, named leases and shared state versions for several processes on one database

Revision ID: 0006_replicas
Revises: 0005_retention
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.store.schema

revision = "0006_replicas"
down_revision = "0005_retention"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_holder", sa.String(length=96), nullable=True))
        batch_op.add_column(
            sa.Column("lease_until", bot.store.schema.UTCDateTime(timezone=True), nullable=True)
        )
    op.create_table(
        "replicas",
        sa.Column("id", sa.String(length=96), nullable=False),
        sa.Column("host", sa.Text(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("roles", sa.Text(), server_default="", nullable=False),
        sa.Column("started_at", bot.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", bot.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_replicas")),
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=160), nullable=False),
        sa.Column("holder", sa.String(length=96), nullable=False),
        sa.Column("acquired_at", bot.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", bot.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("token", sa.Integer(), server_default="1", nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
    )
    op.create_table(
        "state_versions",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), server_default="0", nullable=False),
        sa.Column("changed_at", bot.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_state_versions")),
    )


def downgrade() -> None:
    op.drop_table("state_versions")
    op.drop_table("leases")
    op.drop_table("replicas")
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.drop_column("lease_until")
        batch_op.drop_column("lease_holder")

"""Alembic environment: runs on the connection ``bot.store.db.upgrade`` hands over."""

from __future__ import annotations

from alembic import context

from bot.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - alembic's own CLI is not how marketbot migrates
    raise SystemExit("run migrations with `marketbot db upgrade`")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()

"""Storage: SQLAlchemy 2 (async) on SQLite (default) or PostgreSQL, with Alembic migrations.

``open_store(url)`` migrates and returns a ``SqlStore`` implementing ``bot.ports.Store``.
SQLite in memory (``sqlite+aiosqlite://``) is the in-memory implementation tests use.
"""

from bot.store.db import open_store, upgrade
from bot.store.sql import SqlStore

__all__ = ["SqlStore", "open_store", "upgrade"]

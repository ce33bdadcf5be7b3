"""SqlStore: ``bot.ports.Store`` on SQLAlchemy, the same code on SQLite and PostgreSQL."""

from __future__ import annotations

from bot.store.chat_feeds import ChatFeedStore
from bot.store.cluster import ClusterStore
from bot.store.news import NewsStore
from bot.store.notices import NoticeStore
from bot.store.outbox import OutboxStore
from bot.store.platforms import PlatformStore
from bot.store.retention import RetentionStore
from bot.store.subscriptions import SubscriptionStore
from bot.store.symbols import SymbolNameStore


class SqlStore(
    NewsStore,
    SubscriptionStore,
    ChatFeedStore,
    OutboxStore,
    SymbolNameStore,
    PlatformStore,
    NoticeStore,
    RetentionStore,
    ClusterStore,
):
    """Every store operation; construct through ``bot.store.open_store``."""

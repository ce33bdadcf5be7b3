"""Feeds, items and stories: polling state, dedup that survives restarts, story clusters,
and the hand-offs that make "seen" and "alerted" one durable step."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from bot.domain.errors import StoreError
from bot.domain.models import NewsItem, Story, StorySource
from bot.domain.records import FeedSpec, FeedState, Handoff, HandoffKind, IngestBatch
from bot.store import schema as t
from bot.store.base import StoreBase

_CHUNK = 500
# rows per INSERT of a batch (all in the batch's one transaction): the rows are prepared on the
# event loop, so a thousand-item batch goes in several steps
_WRITE_CHUNK = 200
SEEN_REFRESH = timedelta(days=1)  # how stale an item's last_seen_at may get while its feed serves it
_STATE_COLUMNS = (
    "etag",
    "last_modified",
    "last_status",
    "last_polled_at",
    "last_success_at",
    "first_success_at",
    "last_error",
    "consecutive_failures",
    "disabled_reason",
    "next_poll_at",
    "items_seen",
)


def _sha(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def item_key(item: NewsItem) -> str:
    """Identity of an item within its feed (its guid, link or title hash, as normalised)."""
    return _sha(item.feed_id, item.id)


def content_key(item: NewsItem) -> str:
    """Identity of an item's content within its feed: canonical link plus normalised title.

    Two entries of one feed with the same link and title are the same item even when the
    feed rewrote its GUID or its ``updated`` time. The same article in another feed is a new
    item there: clustering makes it another source of the same story ("also reported by").
    """
    title = " ".join(item.title.lower().split())
    return _sha(item.feed_id, item.canonical_url or item.link, title)


def describe_failure(exc: BaseException) -> str:
    """One line on why a database operation failed, saying what to fix (full disk, outage)."""
    orig = getattr(exc, "orig", None) or exc
    reason = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    code = getattr(orig, "sqlite_errorname", None) or getattr(orig, "sqlstate", None)
    if code in ("SQLITE_FULL", "53100") or "database or disk is full" in reason or "No space left" in reason:
        return f"the database is full ({reason}): free disk space (or raise the database's size limit)"
    return f"the database failed ({reason}): check that it is running and reachable"


def is_outage(exc: BaseException) -> bool:
    """A failure of the database itself (connection lost, disk full, locked), not of our SQL."""
    if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError, OSError, TimeoutError)):
        return True
    return isinstance(exc, sa_exc.DBAPIError) and bool(exc.connection_invalidated)


@contextmanager
def store_errors(what: str, *, writing: bool = True) -> Iterator[None]:
    """Turn a database outage during ``what`` into one clear ``StoreError`` (the transaction rolled back)."""
    try:
        yield
    except Exception as exc:
        if not is_outage(exc):
            raise
        done = " (nothing of it was stored)" if writing else ""
        raise StoreError(f"{what} failed{done}: {describe_failure(exc)}") from exc


def _chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(values), _CHUNK):
        yield values[i : i + _CHUNK]


Bind = Callable[[Any], Any]


class _BulkInsert:
    """An INSERT (ON CONFLICT ...) of fixed columns, compiled once for the store's dialect and
    executed with plain tuples (``exec_driver_sql``, the driver's executemany).

    SQLAlchemy's own executemany builds and processes every row's parameters on the event
    loop (a third of a 20,000-item first poll's store time); here the caller makes the tuples,
    converting only the columns whose type needs it, with the bind processors SQLAlchemy would
    apply (``_column_bind``; timestamps through a fast path that gives the same values).
    """

    def __init__(self, stmt: Any, columns: Sequence[str], dialect: Any) -> None:
        compiled = stmt.compile(dialect=dialect, column_keys=list(columns))
        if list(compiled.positiontup or ()) != list(columns):  # the tuples are in this order
            raise AssertionError(f"{compiled.positiontup} != {list(columns)}")
        self.sql = str(compiled)

    async def run(self, conn: Any, rows: list[tuple[Any, ...]]) -> None:
        """Insert ``rows`` on ``conn``'s transaction, ``_WRITE_CHUNK`` rows per executemany."""
        for start in range(0, len(rows), _WRITE_CHUNK):
            await conn.exec_driver_sql(self.sql, rows[start : start + _WRITE_CHUNK])


def _no_bind(value: Any) -> Any:
    return value


def _column_bind(column: sa.Column[Any], dialect: Any) -> Bind:
    """What SQLAlchemy does to a value bound to ``column`` on ``dialect`` (identity when nothing)."""
    proc = column.type.dialect_impl(dialect).bind_processor(dialect)
    if proc is None:
        return _no_bind
    if not isinstance(column.type, t.UTCDateTime):
        return proc
    slow = proc
    if dialect.name == "sqlite":
        # UTCDateTime makes it naive UTC, SQLite's DATETIME formats it: for an aware UTC value
        # that is its ISO form with a space and microseconds (the same string). A batch binds
        # the same moment many times (its fetch time, its first-seen time): the last value's
        # string is reused.
        last: list[Any] = [None, None]

        def sqlite_utc(value: Any) -> Any:
            if value is last[0]:
                return last[1]
            if type(value) is datetime and value.tzinfo is UTC:
                out = value.replace(tzinfo=None).isoformat(" ", "microseconds")
            else:
                out = slow(value)
            last[0], last[1] = value, out
            return out

        return sqlite_utc

    def aware_utc(value: Any) -> Any:  # PostgreSQL: the UTC value itself
        if type(value) is datetime and value.tzinfo is UTC:
            return value
        return slow(value)

    return aware_utc


class _IngestWrites:
    """The inserts of ``save_ingest`` for one store's dialect, and the binds its rows need."""

    def __init__(self, store: StoreBase) -> None:
        dialect = store.engine.dialect
        self.dt = _column_bind(t.items.c.published_at, dialect)  # every timestamp is a UTCDateTime
        self.json = _column_bind(t.stories.c.tickers, dialect)
        self.stories = _BulkInsert(
            store.insert_ignore(t.stories, ["id"]),
            [
                "id",
                "title",
                "link",
                "canonical_url",
                "summary",
                "source",
                "published_at",
                "first_seen_at",
                "tickers",
            ],
            dialect,
        )
        self.tickers = _BulkInsert(
            store.insert_ignore(t.story_tickers, ["story_id", "symbol"]),
            ["story_id", "symbol", "published_at"],
            dialect,
        )
        self.sources = _BulkInsert(
            store.insert_ignore(t.story_sources, ["story_id", "source"]),
            ["story_id", "source", "link", "seen_at"],
            dialect,
        )
        self.items = _BulkInsert(
            store.insert_ignore(t.items, ["key"]),
            [
                "key",
                "feed_id",
                "item_id",
                "guid",
                "link",
                "canonical_url",
                "title",
                "content_key",
                "story_id",
                "published_at",
                "fetched_at",
            ],
            dialect,
        )
        # a hand-off that exists is renewed (due now: there is news for it again)
        self.handoffs = _BulkInsert(
            store.upsert(t.handoffs, ["story_id", "kind"], ["due_at", "created_at"]),
            ["story_id", "kind", "due_at", "created_at"],
            dialect,
        )


def _handoff_row(h: Handoff) -> dict[str, Any]:
    return {
        "story_id": h.story_id,
        "kind": h.kind,
        "due_at": h.due_at,
        "created_at": h.created_at or h.due_at,
    }


def feed_state(row: Any) -> FeedState:
    return FeedState(
        spec=FeedSpec(
            id=row.id,
            name=row.name,
            url=row.url,
            origin=row.origin,
            interval=row.interval,
            enabled=row.enabled,
            backfill=row.backfill,
            trusted=row.trusted,
        ),
        etag=row.etag,
        last_modified=row.last_modified,
        last_status=row.last_status,
        last_polled_at=row.last_polled_at,
        last_success_at=row.last_success_at,
        first_success_at=row.first_success_at,
        last_error=row.last_error,
        consecutive_failures=row.consecutive_failures,
        disabled_reason=row.disabled_reason,
        next_poll_at=row.next_poll_at,
        items_seen=row.items_seen,
    )


class NewsStore(StoreBase):
    """The feed and news half of ``bot.ports.Store``."""

    # the keys of the items the last ``unseen_items`` returned, by id(item) with the item itself
    # (identity-checked): the ``save_ingest`` that follows reuses them instead of hashing again
    _fresh_keys: dict[int, tuple[NewsItem, str, str]] | None = None
    _ingest_writes: _IngestWrites | None = None  # the ingest's inserts, compiled at first use

    def _keys_of(self, item: NewsItem) -> tuple[str, str]:
        """(item key, content key) of ``item``, from the last lookup when it computed them."""
        hit = self._fresh_keys.get(id(item)) if self._fresh_keys else None
        if hit is not None and hit[0] is item:
            return hit[1], hit[2]
        return item_key(item), content_key(item)

    # ------------------------------------------------------------ feeds

    async def sync_feeds(self, feeds: Sequence[FeedSpec]) -> None:
        """Make the stored feed list match the configured one, keeping each feed's state.

        Feeds no longer configured are deactivated (not deleted: their history stays).
        A feed whose URL changed is a new feed. A feed the config turns from ``enabled: false``
        back to true starts afresh: its disabled reason and failure count are cleared.
        Only rows that changed are written (the poller syncs every minute).
        """
        with store_errors(f"syncing the list of {len(feeds)} feeds"):
            await self._sync_feeds(feeds)

    async def _sync_feeds(self, feeds: Sequence[FeedSpec]) -> None:
        origins = {f.origin for f in feeds} | {"config", "ticker", "yahoo", "chat"}
        async with self.engine.begin() as conn:
            existing = {r.id: r for r in (await conn.execute(sa.select(t.feeds))).all()}
            inserts: list[dict[str, Any]] = []
            for spec in feeds:
                values: dict[str, Any] = {
                    "name": spec.name,
                    "url": spec.url,
                    "origin": spec.origin,
                    "interval": int(spec.interval),
                    "enabled": spec.enabled,
                    "backfill": spec.backfill,
                    "trusted": spec.trusted,
                    "active": True,
                }
                old = existing.get(spec.id)
                if old is None:
                    inserts.append({"id": spec.id, **values})
                    continue
                if all(getattr(old, k) == v for k, v in values.items()):
                    continue
                if spec.enabled and not old.enabled:
                    values.update(disabled_reason=None, consecutive_failures=0, next_poll_at=None)
                await conn.execute(sa.update(t.feeds).where(t.feeds.c.id == spec.id).values(**values))
            if inserts:  # replicas starting together insert the same feeds: the first one wins
                await conn.execute(self.insert_ignore(t.feeds, ["id"]), inserts)
            wanted = {f.id for f in feeds}
            stale = [
                fid for fid, r in existing.items() if fid not in wanted and r.origin in origins and r.active
            ]
            for chunk in _chunks(stale):
                await conn.execute(sa.update(t.feeds).where(t.feeds.c.id.in_(chunk)).values(active=False))

    async def list_feeds(self) -> list[FeedState]:
        q = sa.select(t.feeds).where(t.feeds.c.active).order_by(t.feeds.c.origin, t.feeds.c.name)
        with store_errors("reading the feeds", writing=False):
            async with self.engine.connect() as conn:
                rows = (await conn.execute(q)).all()
        return [feed_state(r) for r in rows]

    async def get_feed(self, feed_id: str) -> FeedState | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(t.feeds).where(t.feeds.c.id == feed_id))).first()
        return feed_state(row) if row else None

    async def save_feed_state(self, state: FeedState) -> None:
        await self.save_feed_states([state])

    async def save_feed_states(self, states: Sequence[FeedState], *, release: str | None = None) -> None:
        """Save the polling state of many feeds in one transaction (a poll cycle's worth).

        ``release`` (a replica id) also gives that replica's claims on these feeds back in the
        same statement (``release_feeds`` without a second transaction per poll); a claim
        another replica holds is left alone.
        """
        if not states:
            return
        values: dict[str, Any] = {col: sa.bindparam(col) for col in _STATE_COLUMNS}
        if release is not None:
            mine = t.feeds.c.lease_holder == release
            values["lease_holder"] = sa.case((mine, sa.null()), else_=t.feeds.c.lease_holder)
            values["lease_until"] = sa.case((mine, sa.null()), else_=t.feeds.c.lease_until)
        stmt = sa.update(t.feeds).where(t.feeds.c.id == sa.bindparam("b_id")).values(values)
        rows = [{"b_id": s.id, **{col: getattr(s, col) for col in _STATE_COLUMNS}} for s in states]
        with store_errors(f"saving the polling state of {len(rows)} feeds"):
            async with self.engine.begin() as conn:
                await conn.execute(stmt, rows)

    # ------------------------------------------------------------ items and stories

    async def unseen_items(self, items: Sequence[NewsItem]) -> list[NewsItem]:
        """The items never stored before, by feed identity or by link + title; batch-deduplicated.

        The stored ones were just served again by their feed: their ``last_seen_at`` is
        refreshed (at most daily), which keeps retention from forgetting them while the feed
        still serves them.
        """
        if not items:
            return []
        self._fresh_keys = None
        fresh: dict[int, tuple[NewsItem, str, str]] = {}
        keys = [item_key(i) for i in items]
        contents = [content_key(i) for i in items]
        seen_keys: set[str] = set()
        seen_contents: set[str] = set()
        served_at = max(i.fetched_at for i in items)
        stale_before = served_at - SEEN_REFRESH
        stale: set[str] = set()
        is_stale = (sa.func.coalesce(t.items.c.last_seen_at, t.items.c.fetched_at) < stale_before).label(
            "stale"
        )
        with store_errors(f"looking up {len(items)} items", writing=False):
            async with self.engine.connect() as conn:
                for chunk in _chunks(list(dict.fromkeys(keys))):
                    rows = await conn.execute(
                        sa.select(t.items.c.key, is_stale).where(t.items.c.key.in_(chunk))
                    )
                    for key, old in rows:
                        seen_keys.add(key)
                        if old:
                            stale.add(key)
                for chunk in _chunks(list(dict.fromkeys(contents))):
                    rows = await conn.execute(
                        sa.select(t.items.c.key, t.items.c.content_key, is_stale).where(
                            t.items.c.content_key.in_(chunk)
                        )
                    )
                    for key, content, old in rows:
                        seen_contents.add(content)
                        if old:
                            stale.add(key)
        if stale:
            with store_errors(f"noting that {len(stale)} stored items are still served"):
                async with self.engine.begin() as conn:
                    for chunk in _chunks(sorted(stale)):
                        await conn.execute(
                            sa.update(t.items).where(t.items.c.key.in_(chunk)).values(last_seen_at=served_at)
                        )
        out = []
        for item, k, c in zip(items, keys, contents, strict=True):
            if k in seen_keys or c in seen_contents:
                continue
            seen_keys.add(k)
            seen_contents.add(c)
            out.append(item)
            fresh[id(item)] = (item, k, c)
        self._fresh_keys = fresh
        return out

    async def save_ingest(self, batch: IngestBatch) -> None:
        """Store new stories, items (with their story), extra sources and hand-offs in one transaction.

        An item counts as seen only once this commits, and it commits together with the
        hand-offs that make delivery finish the alerts: there is no moment at which an item is
        seen but its alerts can be forgotten. A database outage raises ``StoreError``.
        """
        what = f"storing {len(batch.items)} new items"
        try:
            with store_errors(what):
                await self._save_ingest(batch)
        finally:
            self._fresh_keys = None

    def _bulk(self) -> _IngestWrites:
        writes = self._ingest_writes
        if writes is None:
            writes = self._ingest_writes = _IngestWrites(self)
        return writes

    async def _save_ingest(self, batch: IngestBatch) -> None:
        w = self._bulk()
        dt, js = w.dt, w.json
        async with self.engine.begin() as conn:
            if batch.new_stories:
                await w.stories.run(
                    conn,
                    [
                        (
                            s.id,
                            s.title,
                            s.link,
                            s.canonical_url,
                            s.summary,
                            s.source,
                            dt(s.published_at),
                            dt(s.first_seen_at),
                            js(list(s.tickers)),
                        )
                        for s in batch.new_stories
                    ],
                )
                tickers = [
                    (s.id, sym, dt(s.published_at))
                    for s in batch.new_stories
                    for sym in dict.fromkeys(s.tickers)
                ]
                if tickers:
                    await w.tickers.run(conn, tickers)
                first_sources = [
                    (s.id, src.source, src.link, dt(src.seen_at))
                    for s in batch.new_stories
                    for src in (s.sources or (StorySource(s.source, s.link, s.first_seen_at),))
                ]
                await w.sources.run(conn, first_sources)
            if batch.items:
                keys_of = self._keys_of
                await w.items.run(
                    conn,
                    [
                        (
                            key,
                            item.feed_id,
                            item.id,
                            item.guid,
                            item.link,
                            item.canonical_url,
                            item.title,
                            content,
                            story_id,
                            dt(item.published_at),
                            dt(item.fetched_at),
                        )
                        for item, story_id in batch.items
                        for key, content in (keys_of(item),)
                    ],
                )
            if batch.new_sources:
                await w.sources.run(
                    conn, [(sid, src.source, src.link, dt(src.seen_at)) for sid, src in batch.new_sources]
                )
            if batch.handoffs:
                await w.handoffs.run(
                    conn,
                    [
                        (h.story_id, h.kind, dt(h.due_at), dt(h.created_at or h.due_at))
                        for h in batch.handoffs
                    ],
                )

    # ------------------------------------------------------------ hand-offs to delivery

    async def pending_handoffs(self, *, due_before: datetime, limit: int = 500) -> list[Handoff]:
        """Hand-offs due by ``due_before``, oldest first: what start-up and the sweep finish."""
        q = (
            sa.select(t.handoffs)
            .where(t.handoffs.c.due_at <= due_before)
            .order_by(t.handoffs.c.due_at, t.handoffs.c.story_id, t.handoffs.c.kind)
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q)).all()
        return [Handoff(r.story_id, r.kind, r.due_at, r.created_at) for r in rows]

    async def finish_handoffs(
        self, story_ids: Sequence[str], *, kind: HandoffKind, as_of: datetime | None = None
    ) -> None:
        """Delivery is done with these stories; with ``as_of``, a hand-off renewed later stays."""
        if not story_ids:
            return
        async with self.engine.begin() as conn:
            for chunk in _chunks(list(dict.fromkeys(story_ids))):
                q = sa.delete(t.handoffs).where(t.handoffs.c.kind == kind, t.handoffs.c.story_id.in_(chunk))
                if as_of is not None:
                    q = q.where(t.handoffs.c.created_at <= as_of)
                await conn.execute(q)

    async def defer_handoff(self, story_id: str, *, kind: HandoffKind, due_at: datetime) -> None:
        """Look at this story again at ``due_at`` (a throttled follow-up, a decision that waits)."""
        async with self.engine.begin() as conn:
            updated = await conn.execute(
                sa.update(t.handoffs)
                .where(t.handoffs.c.story_id == story_id, t.handoffs.c.kind == kind)
                .values(due_at=due_at)
            )
            if not updated.rowcount:
                await conn.execute(
                    self.insert_ignore(t.handoffs, ["story_id", "kind"]),
                    [_handoff_row(Handoff(story_id, kind, due_at, due_at))],
                )

    async def set_story_tickers(self, story_id: str, tickers: Sequence[str]) -> None:
        """Record the tickers detected in a story (for /news and briefings)."""
        async with self.engine.begin() as conn:
            row = (
                await conn.execute(sa.select(t.stories.c.published_at).where(t.stories.c.id == story_id))
            ).first()
            if row is None:
                return
            await conn.execute(
                sa.update(t.stories).where(t.stories.c.id == story_id).values(tickers=list(tickers))
            )
            await conn.execute(sa.delete(t.story_tickers).where(t.story_tickers.c.story_id == story_id))
            if tickers:
                await conn.execute(
                    sa.insert(t.story_tickers),
                    [
                        {"story_id": story_id, "symbol": s, "published_at": row.published_at}
                        for s in dict.fromkeys(tickers)
                    ],
                )

    async def _load_stories(self, conn: Any, rows: Sequence[Any]) -> list[Story]:
        ids = [r.id for r in rows]
        sources: dict[str, list[StorySource]] = {}
        for chunk in _chunks(ids):
            q = (
                sa.select(t.story_sources)
                .where(t.story_sources.c.story_id.in_(chunk))
                .order_by(t.story_sources.c.seen_at, t.story_sources.c.source)
            )
            for s in (await conn.execute(q)).all():
                sources.setdefault(s.story_id, []).append(StorySource(s.source, s.link, s.seen_at))

        def ordered(r: Any) -> tuple[StorySource, ...]:
            # the story's own source first, then the others as they were seen
            found = sources.get(r.id, [])
            return tuple(sorted(found, key=lambda s: (s.source != r.source, s.seen_at)))

        return [
            Story(
                id=r.id,
                title=r.title,
                link=r.link,
                canonical_url=r.canonical_url,
                summary=r.summary,
                source=r.source,
                published_at=r.published_at,
                first_seen_at=r.first_seen_at,
                tickers=tuple(r.tickers or ()),
                sources=ordered(r),
            )
            for r in rows
        ]

    async def recent_stories(self, since: datetime) -> list[Story]:
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(t.stories)
                    .where(t.stories.c.first_seen_at >= since)
                    .order_by(t.stories.c.first_seen_at)
                )
            ).all()
            return await self._load_stories(conn, rows)

    async def story_feeds(self, story_ids: Sequence[str]) -> dict[str, set[str]]:
        """The feeds whose items make up each story: delivery keeps a story that only chat
        feeds carried inside their workspaces."""
        out: dict[str, set[str]] = {}
        if not story_ids:
            return out
        c = t.items.c
        with store_errors("reading the feeds of stories", writing=False):
            async with self.engine.connect() as conn:
                for chunk in _chunks(list(dict.fromkeys(story_ids))):
                    q = sa.select(c.story_id, c.feed_id).where(c.story_id.in_(chunk)).distinct()
                    for row in (await conn.execute(q)).all():
                        out.setdefault(row.story_id, set()).add(row.feed_id)
        return out

    async def get_story(self, story_id: str) -> Story | None:
        found = await self.get_stories([story_id])
        return found[0] if found else None

    async def get_stories(self, story_ids: Sequence[str]) -> list[Story]:
        """The stored stories among ``story_ids`` (with their sources), in no particular order."""
        rows: list[Any] = []
        async with self.engine.connect() as conn:
            for chunk in _chunks(list(dict.fromkeys(story_ids))):
                rows += (await conn.execute(sa.select(t.stories).where(t.stories.c.id.in_(chunk)))).all()
            return await self._load_stories(conn, rows)

    async def stories(
        self, *, since: datetime | None = None, ticker: str | None = None, limit: int = 50
    ) -> list[Story]:
        """Newest first (by published time), optionally only those mentioning ``ticker``."""
        q = sa.select(t.stories)
        if ticker:
            q = q.join(t.story_tickers, t.story_tickers.c.story_id == t.stories.c.id).where(
                t.story_tickers.c.symbol == ticker.upper()
            )
        if since is not None:
            q = q.where(t.stories.c.published_at >= since)
        q = q.order_by(t.stories.c.published_at.desc(), t.stories.c.id).limit(limit)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q)).all()
            return await self._load_stories(conn, rows)

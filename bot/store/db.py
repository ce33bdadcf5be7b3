"""Engines, URLs and migrations: the only place that knows which database is behind the store."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import re
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.domain.errors import StoreError
from bot.store.sql import SqlStore

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
_ADVISORY_LOCK = 0x6D6B7462  # "mktb": serialises migrations across processes on PostgreSQL


def redact(url: str) -> str:
    """The URL with any password hidden, fit for logs and errors."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def create_engine(url: str) -> AsyncEngine:
    """An async engine for a ``sqlite+aiosqlite`` or ``postgresql+asyncpg`` URL.

    SQLite files get their directory created, WAL mode, a busy timeout and foreign keys.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(
            f"MARKETBOT_DATABASE_URL {url!r} is not a database URL; use e.g. "
            "sqlite+aiosqlite:///data/marketbot.db or postgresql+asyncpg://user:pass@host/db"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+asyncpg")
    if backend == "sqlite" and parsed.drivername == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    if backend not in ("sqlite", "postgresql"):
        raise StoreError(
            f"database {redact(url)}: only SQLite (sqlite+aiosqlite://) and PostgreSQL "
            "(postgresql+asyncpg://) are supported"
        )
    kwargs: dict[str, Any] = {}
    if backend == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        if not database or database == ":memory:":
            # one shared connection, or every connection would see its own empty database
            kwargs["poolclass"] = sa.pool.StaticPool
        kwargs["connect_args"] = {"timeout": 30}
    else:
        kwargs.update(pool_pre_ping=True, pool_size=5, max_overflow=5, connect_args={"timeout": 10})
    try:
        engine = create_async_engine(parsed, **kwargs)
    except (NoSuchModuleError, ImportError) as exc:
        raise StoreError(
            f"database {redact(url)}: driver not installed ({exc}); pip install 'marketbot[postgres]'"
        ) from None
    if backend == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


# Alembic (with Mako and its SQL dialect modules, about half a second of imports) is loaded only
# to migrate: a database already at the newest revision is recognised with one SELECT against
# the head read from the migration files' ``revision =`` / ``down_revision =`` lines.
_REVISION_LINE = re.compile(r"^(down_revision|revision)\s*(?::[^=]*)?=\s*(.+?)\s*$", re.MULTILINE)
_QUOTED = re.compile(r"[\"']([^\"']+)[\"']")
VERSION_TABLE = "alembic_version"


@functools.cache
def head_revision() -> str | None:
    """The newest migration's revision id, read from ``migrations/versions/*.py`` without
    importing Alembic; None when the files do not name exactly one head (Alembic decides)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted((MIGRATIONS / "versions").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        found: dict[str, str] = {m.group(1): m.group(2) for m in _REVISION_LINE.finditer(text)}
        revision = _QUOTED.fullmatch(found.get("revision", ""))
        if revision is None:
            return None
        revisions.add(revision.group(1))
        parents.update(_QUOTED.findall(found.get("down_revision", "")))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _stored_revision_sync(connection: Connection) -> tuple[bool, str | None]:
    """(whether the answer is plain, the revision the database is at): one SELECT; (True, None)
    for a database without migrations; (False, None) when Alembic must look (several rows)."""
    if not connection.dialect.has_table(connection, VERSION_TABLE):
        return True, None
    rows = connection.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    if len(rows) > 1:
        return False, None
    return True, (str(rows[0]) if rows else None)


def _alembic_config(connection: Connection) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def _upgrade_sync(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK})
    elif head_revision() is not None and not sa.inspect(connection).get_table_names():
        # a brand-new SQLite file (every first start): the schema in one go, without Alembic
        create_schema(connection)
        return
    from alembic import command

    command.upgrade(_alembic_config(connection), "head")


def create_schema(connection: Connection) -> None:
    """An empty database's schema at the head revision in one transaction: the tables of
    ``bot.store.schema`` and Alembic's version table stamped with the head, exactly what running
    every migration makes (tests compare both on SQLite and PostgreSQL) in a fraction of the time."""
    from bot.store.schema import metadata

    head = head_revision()
    if head is None:
        raise StoreError("the migration files do not name exactly one head revision")
    metadata.create_all(connection, checkfirst=False)
    # Alembic's own version table (alembic.ddl.impl.DefaultImpl.version_table_impl)
    version = sa.Table(
        VERSION_TABLE,
        sa.MetaData(),
        sa.Column("version_num", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("version_num", name=f"{VERSION_TABLE}_pkc"),
    )
    version.create(connection, checkfirst=False)
    connection.execute(version.insert().values(version_num=head))


def _alembic_current_sync(connection: Connection) -> tuple[str | None, str]:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    ctx = MigrationContext.configure(connection)
    head = ScriptDirectory.from_config(_alembic_config(connection)).get_current_head()
    return ctx.get_current_revision(), head or ""


def _current_sync(connection: Connection) -> tuple[str | None, str]:
    head = head_revision()
    plain, current = _stored_revision_sync(connection)
    if head is None or not plain:
        return _alembic_current_sync(connection)
    return current, head


_migration_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def _migration_lock() -> asyncio.Lock:
    """Alembic's ``context`` is process-global: two upgrades in one process must not interleave."""
    loop = asyncio.get_running_loop()
    lock = _migration_locks.get(loop)
    if lock is None:
        lock = _migration_locks[loop] = asyncio.Lock()
    return lock


async def upgrade(engine: AsyncEngine, *, check_first: bool = False) -> None:
    """Apply every pending migration (idempotent; safe with several processes on PostgreSQL).

    ``check_first``: one SELECT first, and Alembic is not even imported when the database is
    already at the head revision (what nearly every start-up finds). A brand-new SQLite
    database gets the head schema in one go (``create_schema``), without Alembic either.
    """
    try:
        if check_first and head_revision() is not None:
            async with engine.connect() as conn:
                plain, current = await conn.run_sync(_stored_revision_sync)
            if plain and current == head_revision():
                return
        async with _migration_lock(), engine.begin() as conn:
            await conn.run_sync(_upgrade_sync)
    except (OSError, OperationalError, DBAPIError) as exc:
        raise StoreError(_unreachable(engine, exc)) from None


async def current_revision(engine: AsyncEngine) -> tuple[str | None, str]:
    """(revision the database is at, newest revision the code knows)."""
    async with engine.connect() as conn:
        return await conn.run_sync(_current_sync)


def _unreachable(engine: AsyncEngine, exc: BaseException) -> str:
    reason = (
        str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        if str(exc).strip()
        else type(exc).__name__
    )
    url = engine.url.render_as_string(hide_password=True)
    return (
        f"cannot use the database {url}: {reason}. Check MARKETBOT_DATABASE_URL, that the server is "
        "running and reachable, and the credentials."
    )


async def probe(url: str) -> str:
    """Check a database URL without writing anything; a one-line status, or StoreError.

    A SQLite file that does not exist yet is fine (it will be created); its directory must be
    creatable. A server database must answer.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(f"MARKETBOT_DATABASE_URL {url!r} is not a database URL") from None
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if not database or database == ":memory:":
            return "SQLite in memory (nothing is kept across restarts)"
        path = Path(database).expanduser()
        if not path.exists():
            parent = next((p for p in [path.parent, *path.parent.parents] if p.exists()), None)
            if parent is None or not os.access(parent, os.W_OK):
                raise StoreError(f"database {path}: cannot create it, {parent} is not writable")
            return f"SQLite {path} (will be created)"
        url = parsed.set(database=f"file:{path}?mode=ro", query={"uri": "true"}).render_as_string(
            hide_password=False
        )
    engine = create_engine(url)
    try:
        current, head = await current_revision(engine)
    except (OSError, OperationalError, DBAPIError, TimeoutError) as exc:
        raise StoreError(_unreachable(engine, exc)) from None
    finally:
        await engine.dispose()
    state = "up to date" if current == head else f"at migration {current or 'none'}, will upgrade to {head}"
    return f"{redact(url).split('?')[0].replace('file:', '')} ({state})"


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, or None (in-memory SQLite, or another database)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:"):
        database = database.removeprefix("file:").split("?", 1)[0]
    return Path(database).expanduser()


@contextmanager
def one_process(url: str, role: str) -> Iterator[None]:
    """Refuse a second bot process on the same SQLite file, with a message saying what to do.

    Two pollers on one SQLite file would fetch every feed twice and race on the same rows; SQLite
    is the one-process default, PostgreSQL is what several replicas share. The lock is an
    ``flock`` on ``<file>.lock`` held while ``role`` runs: the kernel releases it when the holder
    exits, however it exits (SIGKILL included), so no stale lock is ever left. Short commands
    (``match``, ``subscriptions``, ``feeds`` …) do not take it and may run beside the bot.
    Other databases, and in-memory SQLite, need nothing.
    """
    path = sqlite_path(url)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no advisory locks to rely on
        path = None
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.with_name(path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            raise StoreError(
                f"{path} is in use by another marketbot process ({holder}). SQLite serves one bot "
                "process: stop that one first, or run several replicas on PostgreSQL "
                "(MARKETBOT_DATABASE_URL=postgresql+asyncpg://…)"
            ) from None
        os.ftruncate(fd, 0)
        since = datetime.now(UTC).isoformat(timespec="seconds")
        os.pwrite(fd, f"pid {os.getpid()}, `marketbot {role}` since {since}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


async def _first_connect(engine: AsyncEngine) -> None:
    """Connect once (which sets SQLite's pragmas), or StoreError saying what to check.

    Switching a new SQLite file to WAL takes an exclusive lock, and two connections doing it at
    once deadlock: SQLite answers one "database is locked" at once, without waiting out the busy
    timeout. So first connections in one process take turns, and one that still meets another
    process's switch tries again for a few seconds.
    """
    sqlite = engine.dialect.name == "sqlite"
    for attempt in range(40 if sqlite else 1):
        try:
            async with AsyncExitStack() as stack:
                if sqlite:
                    await stack.enter_async_context(_migration_lock())
                conn = await stack.enter_async_context(engine.connect())
                await conn.execute(sa.text("SELECT 1"))
            return
        except (OSError, OperationalError, DBAPIError, TimeoutError) as exc:
            if not (sqlite and "locked" in str(exc) and attempt < 39):
                raise StoreError(_unreachable(engine, exc)) from None
        await asyncio.sleep(0.05 * (1 + attempt % 4))


@asynccontextmanager
async def open_store(url: str, *, migrate: bool = True) -> AsyncIterator[SqlStore]:
    """Connect, apply migrations, yield a SqlStore; the engine is disposed on exit."""
    engine = create_engine(url)
    try:
        await _first_connect(engine)
        if migrate:
            await upgrade(engine, check_first=True)
        else:
            current, head = await current_revision(engine)
            if current != head:
                raise StoreError(
                    f"the database is at migration {current or 'none'} but this version needs {head}; "
                    "run `marketbot db upgrade`"
                )
        yield SqlStore(engine)
    finally:
        await engine.dispose()

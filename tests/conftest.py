"""Shared fixtures: databases (SQLite and a real PostgreSQL), stores, clocks and the symbol directory.

PostgreSQL comes from MARKETBOT_TEST_POSTGRES_URL, else a server on 127.0.0.1:5432 if one
answers, else the PostgreSQL variants skip (CI sets MARKETBOT_TEST_REQUIRE_POSTGRES=1 so they
fail instead). Each test gets its own database, cloned from a migrated template.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.domain.rules import SymbolDirectory
from bot.domain.timeutil import ManualClock

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def _pg_base_url() -> str | None:
    url = os.environ.get("MARKETBOT_TEST_POSTGRES_URL")
    if url:
        return url
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return DEFAULT_PG
    except OSError:
        return None


def _with_db(url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=name).render_as_string(hide_password=False)


async def _admin(url: str, sql: str) -> None:
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text(sql))
    finally:
        await engine.dispose()


def _run(factory: object) -> None:
    """Run a coroutine to completion on a private loop in a thread (fixtures may be inside a loop)."""
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, factory()).result()  # type: ignore[operator]


class PostgresServer:
    """A real PostgreSQL server; hands out fresh, migrated databases cloned from a template."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.template = f"mb_tmpl_{uuid.uuid4().hex[:10]}"
        self.created: list[str] = []

    def setup(self) -> None:
        from bot.store.db import create_engine, upgrade

        async def go() -> None:
            await _admin(self.base_url, f'CREATE DATABASE "{self.template}"')
            engine = create_engine(_with_db(self.base_url, self.template))
            try:
                await upgrade(engine)
            finally:
                await engine.dispose()

        _run(go)

    async def new_database(self) -> str:
        name = f"mb_{uuid.uuid4().hex[:12]}"
        await _admin(self.base_url, f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        self.created.append(name)
        return _with_db(self.base_url, name)

    async def empty_database(self) -> str:
        """A new database without any table (not cloned from the migrated template)."""
        name = f"mb_{uuid.uuid4().hex[:12]}"
        await _admin(self.base_url, f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return _with_db(self.base_url, name)

    def teardown(self) -> None:
        async def go() -> None:
            for name in [*self.created, self.template]:
                try:
                    await _admin(self.base_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                except Exception:
                    pass

        _run(go)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server for tests, or skip (fail under CI) when there is none."""
    url = _pg_base_url()
    required = os.environ.get("MARKETBOT_TEST_REQUIRE_POSTGRES") == "1"
    if url is None:
        if required:
            pytest.fail("MARKETBOT_TEST_REQUIRE_POSTGRES=1 but no PostgreSQL server answers")
        pytest.skip("no PostgreSQL server (set MARKETBOT_TEST_POSTGRES_URL)")
    server = PostgresServer(url)
    try:
        server.setup()
    except Exception as exc:
        if required:
            raise
        pytest.skip(f"PostgreSQL at {url} is not usable: {exc}")
    yield server
    server.teardown()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database URL: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'marketbot.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return await server.new_database()


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[object]:
    """A migrated SqlStore on each backend (the contract suite runs against both)."""
    from bot.store import open_store

    async with open_store(database_url) as s:
        yield s


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[object]:
    """A migrated SqlStore on a SQLite file: for tests that are not about the backend."""
    from bot.store import open_store

    async with open_store(f"sqlite+aiosqlite:///{tmp_path / 'marketbot.db'}") as s:
        yield s


@pytest.fixture(scope="session")
def yf_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory for yfinance's disk caches, never the user's home."""
    return tmp_path_factory.mktemp("yfinance-cache")


@pytest.fixture
def clock() -> ManualClock:
    """A controlled clock starting at 2026-11-25 13:00 UTC (08:00 New York, pre-market)."""
    return ManualClock(datetime(2026, 11, 25, 13, 0, tzinfo=UTC))


@pytest.fixture(scope="session")
def directory() -> SymbolDirectory:
    """The bundled symbol index, no aliases (immutable, so one for the session)."""
    from bot.market.symbols import load_directory

    return load_directory()

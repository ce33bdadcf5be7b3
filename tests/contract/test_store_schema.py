"""A brand-new database gets its schema in one go (``bot.store.db.create_schema``): it must be
exactly what running every migration makes, on SQLite and on PostgreSQL: tables, columns (type,
nullability, server default), primary and foreign keys, indexes, unique and check constraints,
and Alembic's version table at the head."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bot.store.db import MIGRATIONS, create_engine, create_schema, head_revision
from tests.conftest import PostgresServer


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def two_empty_databases(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    if request.param == "sqlite":
        return tuple(f"sqlite+aiosqlite:///{tmp_path / name}" for name in ("a.db", "b.db"))  # type: ignore[return-value]
    server: PostgresServer = request.getfixturevalue("postgres")
    return await server.empty_database(), await server.empty_database()


def _migrate(connection: sa.Connection) -> None:
    """Every migration, through Alembic (what a new database got before create_schema)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")


def _schema(connection: sa.Connection) -> dict[str, Any]:
    inspector = sa.inspect(connection)
    out: dict[str, Any] = {}
    for table in sorted(inspector.get_table_names()):
        out[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                for c in inspector.get_columns(table)
            ],
            "primary key": inspector.get_pk_constraint(table),
            "foreign keys": sorted(
                (
                    str(fk["name"]),
                    tuple(fk["constrained_columns"]),
                    fk["referred_table"],
                    tuple(fk["referred_columns"]),
                    sorted(fk.get("options", {}).items()),
                )
                for fk in inspector.get_foreign_keys(table)
            ),
            "indexes": sorted(
                (
                    str(ix["name"]),
                    tuple(ix["column_names"]),
                    bool(ix["unique"]),
                    sorted((k, " ".join(str(v).split())) for k, v in ix.get("dialect_options", {}).items()),
                )
                for ix in inspector.get_indexes(table)
            ),
            "unique": sorted(
                (str(uq["name"]), tuple(uq["column_names"])) for uq in inspector.get_unique_constraints(table)
            ),
            "checks": sorted(
                (str(ck["name"]), " ".join(str(ck["sqltext"]).split()))
                for ck in inspector.get_check_constraints(table)
            ),
        }
    if connection.dialect.name == "sqlite":  # partial indexes' WHERE, as SQLite stores them
        rows = connection.execute(sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'index'"))
        out["sqlite indexes"] = sorted((name, " ".join(str(sql).split())) for name, sql in rows)
    out["alembic_version rows"] = connection.execute(sa.text("SELECT version_num FROM alembic_version")).all()
    return out


async def test_create_schema_makes_what_the_migrations_make(two_empty_databases: tuple[str, str]) -> None:
    schemas = []
    for url, build in zip(two_empty_databases, (_migrate, create_schema), strict=True):
        engine = create_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(build)
            async with engine.connect() as conn:
                schemas.append(await conn.run_sync(_schema))
        finally:
            await engine.dispose()
    migrated, created = schemas
    assert len(migrated) > 10 and migrated["alembic_version rows"] == [(head_revision(),)]
    assert created == migrated

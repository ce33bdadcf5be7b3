"""``Catalog.start()``: the first load answers at once, the matcher compiles in a worker thread.

``marketbot run`` is ready before its 10,000 watchlists have compiled: ``start()`` reads the
stored watchlists and chat feeds, ``compiled()`` awaits the compile, and a ``reload()`` waits for
it (the lock), so the matches are those of a plain ``reload()``.
"""

from __future__ import annotations

import pytest

from bot.catalog import Catalog
from bot.domain.models import Watchlist
from bot.market.symbols import load_directory
from bot.store import SqlStore

CONFIG = (Watchlist(name="chips", tickers=("NVDA",)), Watchlist(name="rates", keywords=("rate cut",)))
STORED = Watchlist(name="phones", scope="slack:T1", tickers=("AAPL",))
TITLE = "Apple and Nvidia rally as the Fed signals a rate cut"


def matched(catalog: Catalog) -> set[tuple[str, str]]:
    return set(catalog.matcher.match(TITLE, "").watchlists)


async def test_start_loads_at_once_and_compiles_like_reload(sqlite_store: SqlStore) -> None:
    await sqlite_store.save_watchlist(STORED)
    plain = Catalog(store=sqlite_store, config_watchlists=CONFIG, directory=load_directory())
    await plain.reload()

    catalog = Catalog(store=sqlite_store, config_watchlists=CONFIG, directory=load_directory())
    compiling = await catalog.start()
    assert [w.name for w in catalog.all()] == ["chips", "rates", "phones"]  # before the compile
    assert not compiling.done() and catalog.version == 0
    catalog.begin()
    matcher = await catalog.compiled()
    await compiling
    assert catalog.matcher is matcher and catalog.version == 1
    assert (
        matched(catalog)
        == matched(plain)
        == {("config", "chips"), ("config", "rates"), ("slack:T1", "phones")}
    )

    await catalog.reload()
    assert catalog.version == 2 and matched(catalog) == matched(plain)


async def test_a_reload_right_after_start_waits_for_its_compile(sqlite_store: SqlStore) -> None:
    catalog = Catalog(store=sqlite_store, config_watchlists=CONFIG, directory=load_directory())
    compiling = await catalog.start()
    catalog.begin()
    await catalog.reload()  # takes the lock once the first compile has swapped its matcher in
    assert compiling.done() and catalog.version == 2
    assert matched(catalog) == {("config", "chips"), ("config", "rates")}


async def test_matcher_before_any_load_is_an_error(sqlite_store: SqlStore) -> None:
    catalog = Catalog(store=sqlite_store, config_watchlists=CONFIG, directory=load_directory())
    with pytest.raises(RuntimeError, match="has not run yet"):
        catalog.matcher  # noqa: B018
    with pytest.raises(RuntimeError, match="has not run yet"):
        await catalog.compiled()


async def test_compiled_begins_the_compile_if_nobody_did(sqlite_store: SqlStore) -> None:
    catalog = Catalog(store=sqlite_store, config_watchlists=CONFIG, directory=load_directory())
    compiling = await catalog.start()
    await catalog.compiled()
    await compiling
    assert catalog.version == 1 and matched(catalog) == {("config", "chips"), ("config", "rates")}

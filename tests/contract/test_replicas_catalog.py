"""Two replicas on one PostgreSQL: a watchlist saved through one is compiled by the other within
one ``follow_catalog`` tick (every 2 s in the running bot), not at the 300 s full reload; and the
same name saved by both at once is one watchlist, never a unique-key error."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from bot.app import Runtime
from bot.config import load_env, parse_config
from bot.domain.models import Watchlist

pytestmark = pytest.mark.postgres

CONFIG = """
feeds: []
market: {quote_timeout: 2}
web: {enabled: false}
"""


async def test_an_edit_on_one_replica_reaches_the_other_and_racing_saves_never_collide(
    postgres: object, tmp_path: Path
) -> None:
    url = await postgres.new_database()  # type: ignore[attr-defined]
    env = load_env(
        {
            "MARKETBOT_DATABASE_URL": url,
            "MARKETBOT_CONFIG": str(tmp_path / "bot.yaml"),
            "MARKETBOT_YAHOO_URL": "http://127.0.0.1:9",  # never asked: no ticker is quoted here
        },
        dotenv=None,
    )
    cfg = parse_config(CONFIG)
    async with AsyncExitStack() as stack:
        one = await stack.enter_async_context(Runtime.open(env, cfg, connect_chat=False))
        two = await stack.enter_async_context(Runtime.open(env, cfg, connect_chat=False))
        assert one.node.id == two.node.id  # same process here; in production each has its own
        assert not await two.follow_catalog()  # nothing changed yet: one cheap read

        watch = Watchlist(name="Chips", scope="slack:T1", tickers=("NVDA",), keywords=("export control",))
        await one.store.save_watchlist(watch)
        await one.catalog.reload()
        assert two.catalog.find("slack:T1", "chips") is None  # not compiled there yet
        assert await two.follow_catalog()
        found = two.catalog.find("slack:T1", "chips")
        assert found is not None and found.tickers == ("NVDA",)

        # two people create the same name on two replicas at the same moment
        a = Watchlist(name="Cloud", scope="slack:T1", keywords=("cloud",))
        b = Watchlist(name="CLOUD", scope="slack:T1", keywords=("azure",))
        await asyncio.gather(one.store.save_watchlist(a), two.store.save_watchlist(b))
        stored = [w for w in await one.store.list_watchlists("slack:T1") if w.name.lower() == "cloud"]
        assert len(stored) == 1 and stored[0].keywords in (("cloud",), ("azure",))
        assert await one.follow_catalog() and await two.follow_catalog()
        for rt in (one, two):
            seen = rt.catalog.find("slack:T1", "cloud")
            assert seen is not None and seen.keywords == stored[0].keywords

        assert await one.store.delete_watchlist("slack:T1", "chips")
        assert await two.follow_catalog() and two.catalog.find("slack:T1", "chips") is None

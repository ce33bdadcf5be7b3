"""The market world of the briefing and move-alert tests (``market_world``), opened and closed
around each test; each module brings its own ``fake`` Yahoo day and may move the ``clock``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.domain.timeutil import ManualClock
from bot.store import SqlStore
from tests.fakes.yahoo import YahooFake
from tests.unit.delivery.market_world import World, close_world, make_world


@pytest.fixture
async def world(
    sqlite_store: SqlStore, clock: ManualClock, fake: YahooFake, yf_cache: Path
) -> AsyncIterator[World]:
    w = await make_world(sqlite_store, clock, fake, yf_cache)
    try:
        yield w
    finally:
        await close_world(w)

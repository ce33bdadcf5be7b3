"""Fixtures for the market tests: the Yahoo fake on 127.0.0.1, a controlled clock, the real yfinance.

yfinance's disk caches and matplotlib's config go to a temporary directory, never $HOME.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

os.environ.setdefault("MPLCONFIGDIR", tempfile.mkdtemp(prefix="marketbot-mpl-"))

from bot.config import MarketConfig
from bot.domain.timeutil import ManualClock
from bot.market.quotes import YahooQuoteSource
from bot.market.sessions import ExchangeCalendar
from bot.market.yahoo import configure_cache
from tests.fakes.yahoo import YahooFake

ET = ZoneInfo("America/New_York")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """yfinance 1.7 on pandas 3 warns about its own deprecated pandas calls: not ours to fix."""
    for item in items:
        if "tests/unit/market" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.filterwarnings(r"ignore:.*inplace keyword:DeprecationWarning"))


def et(text: str) -> datetime:
    """``et("2026-11-27 08:30")``: a New York wall-clock time as an aware datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=ET)


@pytest.fixture(scope="session")
def yf_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("yfinance-cache")
    return configure_cache(path)


@pytest.fixture(scope="session")
def calendar() -> ExchangeCalendar:
    return ExchangeCalendar("XNYS")


@pytest.fixture
def clock() -> ManualClock:
    """Friday 2026-11-27, 08:30 New York: pre-market on the day after Thanksgiving."""
    return ManualClock(et("2026-11-27 08:30"))


@pytest.fixture
async def fake(clock: ManualClock) -> AsyncIterator[YahooFake]:
    async with YahooFake(clock=clock) as server:
        yield server


@pytest.fixture
def market_config() -> MarketConfig:
    # generous: these tests are about what Yahoo answers, and yfinance is slow on a busy machine;
    # a test about the deadline itself overrides it and makes Yahoo hang (never answer)
    return MarketConfig(quote_timeout=30.0)


@pytest.fixture
async def source(
    fake: YahooFake,
    clock: ManualClock,
    calendar: ExchangeCalendar,
    yf_cache: Path,
    market_config: MarketConfig,
) -> AsyncIterator[YahooQuoteSource]:
    src = YahooQuoteSource(market_config, calendar, yahoo_url=fake.url, clock=clock, cache_dir=yf_cache)
    try:
        yield src
    finally:
        await src.aclose()


@pytest.fixture
def no_home_writes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """Point HOME at an empty directory so a test can prove nothing was written there."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    yield home

"""Contract suites for the market ports: QuoteSource, MarketCalendar, ChartSource, NewsSource.

Each suite states what any implementation must do (as ``bot/ports.py`` promises) and runs
against every implementation we ship, driven through the real yfinance against the Yahoo fake.
"""

from __future__ import annotations

import math
import os
import struct
import tempfile
import zlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("MPLCONFIGDIR", tempfile.mkdtemp(prefix="marketbot-mpl-"))

from bot.config import MarketConfig
from bot.domain.errors import QuoteUnavailable, SourceError
from bot.domain.models import NewsItem, Quote, TradingSession
from bot.domain.timeutil import ManualClock
from bot.ingest.memory import MemoryNews
from bot.market.charts import ChartRenderer
from bot.market.memory import MemoryCharts, MemoryQuotes, blank_png
from bot.market.news import YahooNewsSource
from bot.market.quotes import YahooQuoteSource
from bot.market.sessions import ExchangeCalendar
from bot.market.yahoo import configure_cache
from bot.ports import ChartSource, MarketCalendar, NewsSource, QuoteSource
from tests.fakes.yahoo import YahooFake

pytestmark = pytest.mark.filterwarnings(r"ignore:.*inplace keyword:DeprecationWarning")

START = datetime(2026, 11, 27, 13, 30, tzinfo=UTC)  # 08:30 New York, pre-market after Thanksgiving


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return configure_cache(tmp_path_factory.mktemp("yfinance"))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
async def fake(clock: ManualClock) -> AsyncIterator[YahooFake]:
    async with YahooFake(clock=clock) as server:
        yield server


@pytest.fixture
async def yahoo_quotes(
    fake: YahooFake, clock: ManualClock, cache_dir: Path
) -> AsyncIterator[YahooQuoteSource]:
    src = YahooQuoteSource(
        MarketConfig(quote_timeout=30.0),  # generous: a busy machine must not turn prices into None
        ExchangeCalendar(),
        yahoo_url=fake.url,
        clock=clock,
        cache_dir=cache_dir,
    )
    yield src
    await src.aclose()


# ---------------------------------------------------------------- QuoteSource


PRICES = {"AAPL": (231.5, 229.0), "MSFT": (410.0, 415.0), "SHOP.TO": (101.0, 100.0), "AMZN": (181.2, 182.7)}


@pytest.fixture(params=["yahoo", "memory"])
def quote_impl(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def quote_source(
    quote_impl: str, fake: YahooFake, clock: ManualClock, cache_dir: Path
) -> AsyncIterator[QuoteSource]:
    if quote_impl == "memory":
        yield MemoryQuotes(clock, PRICES)
        return
    src = YahooQuoteSource(
        MarketConfig(quote_timeout=30.0),
        ExchangeCalendar(),
        yahoo_url=fake.url,
        clock=clock,
        cache_dir=cache_dir,
    )
    yield src
    await src.aclose()


def take_down(source: QuoteSource, fake: YahooFake) -> None:
    """The quote service goes away: Yahoo answers 500 to everything, the twin opens its breaker."""
    if isinstance(source, MemoryQuotes):
        source.down("Yahoo Finance answered HTTP 500")
    else:
        fake.fail("all", "500")


def _check_quote(q: Quote) -> None:
    if q.price is None:
        assert q.change is None and q.change_pct is None and q.as_of is None
        assert q.reason, "a quote without a price says why"
        return
    assert q.price > 0 and math.isfinite(q.price)
    assert q.as_of is not None and q.as_of.tzinfo is not None and q.as_of.utcoffset() == timedelta(0)
    assert q.session is None or isinstance(q.session, TradingSession)
    if q.previous_close is not None:
        assert q.change is not None and q.change_pct is not None
        assert math.isclose(q.change, q.price - q.previous_close, abs_tol=1e-9)
        assert math.isclose(q.change_pct, q.change / q.previous_close * 100, rel_tol=1e-9)


async def test_quotes_keyed_by_normalised_symbol_in_order(quote_source: QuoteSource) -> None:
    got = await quote_source.quotes(["msft", "$aapl", "SHOP.TO", "msft"])
    assert list(got) == ["MSFT", "AAPL", "SHOP.TO"]
    for q in got.values():
        _check_quote(q)
        assert q.available


async def test_quotes_never_raise(quote_source: QuoteSource) -> None:
    got = await quote_source.quotes(["NOSUCHCO", "", "   ", "bad symbol!", "AAPL"])
    assert set(got) == {"NOSUCHCO", "BAD SYMBOL!", "AAPL"}
    assert got["NOSUCHCO"].price is None and got["BAD SYMBOL!"].price is None
    for q in got.values():
        _check_quote(q)
    assert await quote_source.quotes([]) == {}


async def test_quotes_never_raise_when_yahoo_is_down(quote_source: QuoteSource, fake: YahooFake) -> None:
    take_down(quote_source, fake)
    got = await quote_source.quotes(["AAPL", "MSFT"])
    assert all(q.price is None and q.reason for q in got.values())


async def test_status_reports_the_breaker(
    quote_source: QuoteSource, fake: YahooFake, clock: ManualClock
) -> None:
    st = quote_source.status()
    assert st.breaker.state == "closed" and not st.breaker.paused(clock.now()) and st.endpoint
    take_down(quote_source, fake)
    for n in range(10):  # enough failed rounds to open any breaker we ship
        await quote_source.quotes([f"T{n}"])
        if quote_source.status().breaker.state == "open":
            break
    st = quote_source.status()
    assert st.breaker.state == "open" and st.breaker.paused(clock.now()) and st.last_error
    assert st.breaker.retry_at is not None and not st.breaker.paused(st.breaker.retry_at)


# ---------------------------------------------------------------- MarketCalendar


@pytest.fixture(params=["xnys"])
def market_calendar(request: pytest.FixtureRequest) -> MarketCalendar:
    return {"xnys": ExchangeCalendar("XNYS")}[request.param]


@pytest.mark.parametrize("hours", range(0, 24 * 9, 5))
def test_calendar_contract(market_calendar: MarketCalendar, hours: int) -> None:
    when = datetime(2026, 11, 21, tzinfo=UTC) + timedelta(hours=hours, minutes=17)
    session = market_calendar.session_at(when)
    assert session is None or isinstance(session, TradingSession)
    day = when.astimezone(ExchangeCalendar("XNYS").tz).date()
    if not market_calendar.is_trading_day(day):
        assert session in (TradingSession.CLOSED, None)
    close = market_calendar.previous_close(when)
    assert close.tzinfo is not None and close < when
    assert market_calendar.session_at(close) != TradingSession.REGULAR  # a close ends the regular session
    assert market_calendar.previous_close(close) < close


def test_calendar_knows_the_holiday(market_calendar: MarketCalendar) -> None:
    assert not market_calendar.is_trading_day(date(2026, 11, 26))
    assert market_calendar.is_trading_day(date(2026, 11, 27))


# ---------------------------------------------------------------- ChartSource


@pytest.fixture(params=["matplotlib", "memory"])
async def chart_source(
    request: pytest.FixtureRequest, yahoo_quotes: YahooQuoteSource, clock: ManualClock
) -> AsyncIterator[ChartSource]:
    if request.param == "memory":
        yield MemoryCharts(blank_png(320, 160), missing=["NOSUCHCO"])
        return
    renderer = ChartRenderer(yahoo_quotes, ExchangeCalendar(), clock=clock)
    yield renderer
    await renderer.aclose()


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height of a well-formed PNG: every chunk's CRC right, IHDR first, pixels that
    inflate, IEND last."""
    assert png.startswith(b"\x89PNG\r\n\x1a\n"), "a PNG starts with its signature"
    pos, kinds, idat, size = 8, [], b"", (0, 0)
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, data = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", png[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + data), f"bad CRC on {kind!r}"
        kinds.append(kind)
        if kind == b"IHDR":
            size = struct.unpack(">II", data[:8])
        elif kind == b"IDAT":
            idat += data
        pos += 12 + length
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and idat
    assert zlib.decompress(idat)
    return size


async def test_chart_is_png(chart_source: ChartSource) -> None:
    width, height = png_size(await chart_source.chart("AAPL"))
    assert width >= 100 and height >= 50, "big enough to read in a chat"


async def test_chart_takes_the_symbol_as_typed(chart_source: ChartSource) -> None:
    png_size(await chart_source.chart(" $aapl "))


async def test_chart_without_prices_says_why(chart_source: ChartSource) -> None:
    with pytest.raises(QuoteUnavailable) as caught:
        await chart_source.chart("NOSUCHCO")
    assert "NOSUCHCO" in str(caught.value)


async def test_chart_outage_raises_source_error(chart_source: ChartSource, fake: YahooFake) -> None:
    if isinstance(chart_source, MemoryCharts):
        chart_source.down("Yahoo Finance answered HTTP 429")
    else:
        fake.fail("all", "429")
    with pytest.raises(SourceError) as caught:
        await chart_source.chart("MSFT")
    assert "MSFT" in str(caught.value)


# ---------------------------------------------------------------- NewsSource


def memory_news(clock: ManualClock) -> MemoryNews:
    """The twin with what a real feed carries: HTML in titles, tracking links, a future date."""
    src = MemoryNews(clock, feed_id="memory:wire")
    src.publish(
        "Apple &amp; <b>Nvidia</b> rally",
        "https://www.example.com/markets/apple-nvidia?utm_source=rss",
        summary="<p>Shares of Apple and Nvidia rose <i>sharply</i> before the bell.</p>",
        published_at=clock.now() - timedelta(hours=2),
        guid="wire-1",
    )
    src.publish(
        "Nvidia export rules tighten",
        "https://www.example.com/policy/nvidia-export",
        published_at=clock.now() + timedelta(days=1),  # a feed clock ahead: clamped to the fetch
        publisher="Reuters",
    )
    return src


@pytest.fixture(params=["yahoo", "memory"])
async def news_source(
    request: pytest.FixtureRequest, fake: YahooFake, clock: ManualClock, cache_dir: Path
) -> AsyncIterator[NewsSource]:
    makers: dict[str, Callable[[], Any]] = {
        "yahoo": lambda: YahooNewsSource(
            ["AAPL", "NVDA"], yahoo_url=fake.url, clock=clock, cache_dir=cache_dir
        ),
        "memory": lambda: memory_news(clock),
    }
    src = makers[request.param]()
    yield src
    await src.aclose()


async def test_news_items_belong_to_the_source(news_source: NewsSource, clock: ManualClock) -> None:
    assert isinstance(news_source.id, str) and news_source.id
    items = await news_source.fetch()
    assert items and all(isinstance(i, NewsItem) for i in items)
    assert len({i.id for i in items}) == len(items)
    for item in items:
        assert item.feed_id == news_source.id
        assert item.title and item.link.startswith("https://") and item.canonical_url
        assert item.published_at.tzinfo is not None and item.published_at <= item.fetched_at
        assert "<" not in item.title and "&amp;" not in item.title


async def test_news_outage_raises_source_error(news_source: NewsSource, fake: YahooFake) -> None:
    """A source that refuses every request raises SourceError (the poller backs off), never returns junk.

    Yahoo answers 429 to everything; the twin's feed is down.
    """
    if isinstance(news_source, MemoryNews):
        news_source.down("the feed answered HTTP 503")
    else:
        fake.fail("all", "429")
    with pytest.raises(SourceError) as caught:
        await news_source.fetch()
    assert str(caught.value) and caught.value.retryable


async def test_news_item_ids_are_stable_across_fetches(news_source: NewsSource) -> None:
    first = await news_source.fetch()
    again = await news_source.fetch()
    assert [i.id for i in first] == [i.id for i in again]

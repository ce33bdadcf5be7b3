"""Charts: a PNG of the latest session from the real yfinance bars, readable in dark and light chat apps."""

from __future__ import annotations

import asyncio
import io
import struct
from datetime import timedelta

import pytest

from bot.config import MarketConfig
from bot.domain.errors import QuoteUnavailable
from bot.domain.timeutil import ManualClock
from bot.market.charts import PALETTES, ChartRenderer, headline, render_png
from bot.market.quotes import YahooQuoteSource
from bot.market.sessions import ExchangeCalendar
from tests.fakes.yahoo import Instrument, YahooFake
from tests.unit.market.conftest import et

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(PNG_MAGIC)
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def pixel(data: bytes, x: int, y: int) -> str:
    from matplotlib import image

    img = image.imread(io.BytesIO(data), format="png")
    r, g, b = (round(float(c) * 255) for c in img[y][x][:3])
    return f"#{r:02x}{g:02x}{b:02x}"


@pytest.mark.parametrize("theme", ["dark", "light"])
async def test_chart_is_a_phone_sized_png_with_its_own_background(
    fake: YahooFake, source: YahooQuoteSource, calendar: ExchangeCalendar, clock: ManualClock, theme: str
) -> None:
    clock.set(et("2026-11-25 18:30"))  # after hours: pre, regular and post bars
    renderer = ChartRenderer(source, calendar, clock=clock, theme=theme)  # type: ignore[arg-type]
    png = await renderer.chart("amzn")
    assert png_size(png) == (1200, 720)
    # an opaque card in the theme's colour, so the text contrast does not depend on the chat app
    assert pixel(png, 2, 2) == PALETTES[theme].background
    await renderer.aclose()


async def test_chart_is_cached_per_symbol_per_minute(
    fake: YahooFake, source: YahooQuoteSource, calendar: ExchangeCalendar, clock: ManualClock
) -> None:
    renderer = ChartRenderer(source, calendar, clock=clock)
    first = await renderer.chart("AAPL")
    again = await asyncio.gather(renderer.chart("AAPL"), renderer.chart("AAPL"))
    assert again == [first, first]
    charts = fake.count("/v8/finance/chart/AAPL")
    clock.advance(timedelta(minutes=1))
    await renderer.chart("AAPL")
    assert fake.count("/v8/finance/chart/AAPL") == charts + 1
    await renderer.aclose()


async def test_chart_headline_matches_the_quote(
    fake: YahooFake, source: YahooQuoteSource, calendar: ExchangeCalendar, clock: ManualClock
) -> None:
    fake.set_day("AMZN", et("2026-11-25 00:00").date(), close=182.69)
    fake.set_day("AMZN", et("2026-11-27 00:00").date(), pre=181.20)
    bars = await source.bars("AMZN")
    head = headline(bars, calendar, clock.now())
    quote = await source.quote("AMZN")
    assert (head.price, head.session, round(head.change_pct or 0, 4)) == (
        quote.price,
        quote.session,
        round(quote.change_pct or 0, 4),
    )
    # pre-market bars only so far, all inside the shaded pre-market span
    assert all(calendar.session_at(t) is not None for t in bars.times)


async def test_tokyo_chart_has_a_lunch_break(
    fake: YahooFake, source: YahooQuoteSource, calendar: ExchangeCalendar, clock: ManualClock
) -> None:
    clock.set(et("2026-11-27 03:00"))  # 17:00 in Tokyo: the whole session is in
    bars = await source.bars("7203.T")
    gaps = [b - a for a, b in zip(bars.times, bars.times[1:], strict=False) if b - a > timedelta(minutes=5)]
    assert gaps == [timedelta(hours=1, minutes=1)]  # 11:29 -> 12:30 bars
    assert png_size(render_png(bars, calendar=calendar, now=clock.now())) == (1200, 720)


async def test_no_chart_for_a_delisted_symbol(
    fake: YahooFake, source: YahooQuoteSource, calendar: ExchangeCalendar, clock: ManualClock
) -> None:
    fake.add(Instrument("GONE", "Gone Inc", delisted=True))
    renderer = ChartRenderer(source, calendar, clock=clock)
    with pytest.raises(QuoteUnavailable, match="no such symbol"):
        await renderer.chart("GONE")
    await renderer.aclose()


@pytest.mark.parametrize("market_config", [MarketConfig(quote_timeout=2.0)])
async def test_no_chart_when_yahoo_hangs(
    fake: YahooFake, source: YahooQuoteSource, calendar: ExchangeCalendar, clock: ManualClock
) -> None:
    fake.fail("chart", "hang")
    renderer = ChartRenderer(source, calendar, clock=clock)
    with pytest.raises(QuoteUnavailable, match="did not answer within 2s"):
        await renderer.chart("TSLA")
    fake.clear_failures()
    await renderer.aclose()


async def test_before_the_first_trade_the_chart_shows_the_last_day(
    fake: YahooFake, source: YahooQuoteSource, calendar: ExchangeCalendar, clock: ManualClock
) -> None:
    clock.set(et("2026-11-27 04:00:30"))  # pre-market has begun, nothing has traded yet
    fake.set_day("AMZN", et("2026-11-25 00:00").date(), close=182.69)
    bars = await source.bars("AMZN")
    local_days = {t.astimezone(calendar.tz).date() for t in bars.times}
    assert local_days == {et("2026-11-25 00:00").date()}  # Wednesday; Thursday was Thanksgiving
    assert bars.regular is not None and bars.regular.price == 182.69
    assert bars.previous_close is not None
    assert fake.count("/v8/finance/chart/AMZN") >= 2  # the empty 1-day chart, then the 5-day one
    renderer = ChartRenderer(source, calendar, clock=clock)
    assert png_size(await renderer.chart("AMZN")) == (1200, 720)
    await renderer.aclose()

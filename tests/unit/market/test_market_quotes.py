"""Quotes through the real yfinance against the Yahoo fake: what a user would see in each session."""

from __future__ import annotations

import asyncio
import logging
from datetime import date, timedelta
from pathlib import Path

import pytest

from bot.config import MarketConfig
from bot.domain.models import TradingSession
from bot.domain.timeutil import ManualClock
from bot.domain.view import quote_view
from bot.market.quotes import YahooQuoteSource
from bot.market.sessions import ExchangeCalendar
from tests.fakes.yahoo import NO_TRADES, Instrument, YahooFake
from tests.support.wait import wait_until
from tests.unit.market.conftest import et

WED, THU, FRI = date(2026, 11, 25), date(2026, 11, 26), date(2026, 11, 27)


def _amzn(fake: YahooFake) -> None:
    fake.set_day("AMZN", WED, close=182.69, post=NO_TRADES)
    fake.set_day("AMZN", FRI, pre=181.20, close=184.10, post=183.50)


async def test_pre_market_price_is_the_current_price(fake: YahooFake, source: YahooQuoteSource) -> None:
    _amzn(fake)
    q = (await source.quotes(["amzn"]))["AMZN"]
    assert quote_view(q).line(with_arrow=False) == "AMZN $181.20 \u22120.82% pre-market"
    assert q.previous_close == 182.69  # Wednesday's close: Thursday was Thanksgiving
    assert q.as_of == et("2026-11-27 08:30")
    assert q.name == "Amazon.com, Inc." and q.currency == "USD"
    assert fake.count("/v7/finance/quote") == 1


async def test_regular_session_price(fake: YahooFake, source: YahooQuoteSource, clock: ManualClock) -> None:
    _amzn(fake)
    clock.set(et("2026-11-27 11:00"))
    q = await source.quote("AMZN")
    truth = fake.price_at("AMZN", clock.now())
    assert truth is not None and truth[1] == "regular"
    assert q.price == truth[0]
    assert q.session == TradingSession.REGULAR
    assert q.previous_close == 182.69


async def test_after_an_early_close_the_after_hours_price_counts(
    fake: YahooFake, source: YahooQuoteSource, clock: ManualClock
) -> None:
    _amzn(fake)
    clock.set(et("2026-11-27 13:30"))  # the market closed at 13:00
    q = await source.quote("AMZN")
    assert (
        quote_view(q).line(with_arrow=False) == "AMZN $183.50 \u22120.33% after hours"
    )  # against Friday's 184.10 close
    assert q.previous_close == 184.10


async def test_a_close_without_after_hours_trades_says_closed(
    fake: YahooFake, source: YahooQuoteSource, clock: ManualClock
) -> None:
    fake.set_day("AMZN", WED, close=182.69)
    fake.set_day("AMZN", FRI, pre=181.20, close=184.10, post=NO_TRADES)
    clock.set(et("2026-11-28 12:00"))  # Saturday
    q = await source.quote("AMZN")
    assert (
        quote_view(q).line(with_arrow=False) == "AMZN $184.10 +0.77% closed"
    )  # Friday's close against Wednesday's
    assert q.as_of is not None and q.as_of.date() == FRI


async def test_thanksgiving_shows_wednesdays_prices(
    fake: YahooFake, source: YahooQuoteSource, clock: ManualClock
) -> None:
    fake.set_day("AMZN", date(2026, 11, 24), close=180.00)
    fake.set_day("AMZN", WED, close=182.69, post=182.10)
    fake.set_day("AAPL", WED, close=230.00, post=NO_TRADES)
    fake.set_day("AAPL", date(2026, 11, 24), close=228.00)
    clock.set(et("2026-11-26 12:00"))
    quotes = await source.quotes(["AMZN", "AAPL"])
    assert (
        quote_view(quotes["AMZN"]).line(with_arrow=False) == "AMZN $182.10 \u22120.32% after hours"
    )  # Wednesday's late trade
    assert quote_view(quotes["AAPL"]).line(with_arrow=False) == "AAPL $230.00 +0.88% closed"


async def test_dst_change_day_pre_market(
    fake: YahooFake, source: YahooQuoteSource, clock: ManualClock
) -> None:
    fake.set_day("MSFT", date(2026, 3, 6), close=400.00, post=NO_TRADES)
    fake.set_day("MSFT", date(2026, 3, 9), pre=404.00)
    clock.set(et("2026-03-09 04:30"))  # first EDT morning
    q = await source.quote("MSFT")
    assert quote_view(q).line(with_arrow=False) == "MSFT $404.00 +1.00% pre-market"
    clock.set(et("2026-03-09 03:30"))
    source.clear_cache()
    q = await source.quote("MSFT")
    assert q.session == TradingSession.CLOSED and q.price == 400.00


async def test_non_us_symbols_get_their_exchange_session_or_none(
    fake: YahooFake, source: YahooQuoteSource, clock: ManualClock
) -> None:
    fake.add(Instrument("ABC.XX", "Somewhere Co", exchange="XLON", currency="GBP", base=5.0))
    clock.set(et("2026-11-26 11:00"))  # US holiday; Toronto and London trade
    quotes = await source.quotes(["SHOP.TO", "7203.T", "ABC.XX"])
    shop, toyota, unknown = quotes["SHOP.TO"], quotes["7203.T"], quotes["ABC.XX"]
    assert shop.session == TradingSession.REGULAR and shop.currency == "CAD"
    assert toyota.session == TradingSession.CLOSED and toyota.currency == "JPY"  # 01:00 in Tokyo
    assert unknown.available and unknown.session is None  # price yes, label no: never a wrong one
    clock.set(et("2026-11-26 08:30"))
    source.clear_cache()
    assert (await source.quote("SHOP.TO")).session == TradingSession.CLOSED  # no pre-market outside the US


async def test_halted_symbol_keeps_its_last_price(
    fake: YahooFake, source: YahooQuoteSource, clock: ManualClock
) -> None:
    halt = et("2026-11-27 10:15")
    fake.add(Instrument("HALT", "Halted Corp", base=50.0, halted_at=halt))
    clock.set(et("2026-11-27 12:00"))
    q = await source.quote("HALT")
    assert q.available and q.as_of == halt
    assert q.session == TradingSession.REGULAR


async def test_delisted_and_unknown_symbols(fake: YahooFake, source: YahooQuoteSource) -> None:
    fake.add(Instrument("OLDCO", "Old Co", delisted=True))
    quotes = await source.quotes(["OLDCO", "NOSUCH", "AAPL", "not a symbol!"])
    assert quotes["AAPL"].available
    for sym in ("OLDCO", "NOSUCH"):
        assert quotes[sym].price is None
        assert "no such symbol" in (quotes[sym].reason or "")
    assert quotes["NOT A SYMBOL!"].reason == "'NOT A SYMBOL!' is not a ticker symbol"
    before = len(fake.requests)
    again = await source.quotes(["OLDCO", "NOSUCH"])
    assert len(fake.requests) == before  # "no such symbol" is remembered for the cache TTL
    assert again["OLDCO"].price is None
    assert source.status().breaker.state == "closed"  # a wrong symbol is not Yahoo failing


async def test_a_share_class_in_any_spelling_is_one_yahoo_symbol(
    fake: YahooFake, source: YahooQuoteSource
) -> None:
    fake.add(Instrument("BRK-B", "Berkshire Hathaway Inc."))
    quotes = await source.quotes(["brk.b", "BRK/B", "$BRK-B"])
    assert list(quotes) == ["BRK-B"] and quotes["BRK-B"].available
    assert (await source.quote("BRK.B")).symbol == "BRK-B"


async def test_fifty_symbols_are_one_request(fake: YahooFake, source: YahooQuoteSource) -> None:
    symbols = [f"S{i:02d}X" for i in range(50)]
    fake.add_generated(symbols)
    quotes = await source.quotes(symbols)
    assert all(q.available for q in quotes.values())
    assert list(quotes) == symbols
    assert fake.count("/v7/finance/quote") == 1
    assert fake.count("/v8/finance/chart") == 0


async def test_cache_ttl_is_shorter_in_active_sessions(
    fake: YahooFake, source: YahooQuoteSource, clock: ManualClock
) -> None:
    await source.quote("AAPL")  # pre-market: 15 s
    clock.advance(10)
    await source.quote("AAPL")
    assert fake.count("/v7/finance/quote") == 1
    clock.advance(6)
    await source.quote("AAPL")
    assert fake.count("/v7/finance/quote") == 2
    clock.set(et("2026-11-28 12:00"))  # Saturday: 60 s
    await source.quote("AAPL")
    clock.advance(30)
    await source.quote("AAPL")
    assert fake.count("/v7/finance/quote") == 3
    clock.advance(31)
    await source.quote("AAPL")
    assert fake.count("/v7/finance/quote") == 4


async def test_a_cached_quote_never_outlives_its_session(
    fake: YahooFake, source: YahooQuoteSource, clock: ManualClock
) -> None:
    clock.set(et("2026-11-27 09:29:55"))
    assert (await source.quote("AAPL")).session == TradingSession.PRE
    clock.advance(10)  # 09:30:05, within the 15 s TTL but the regular session has begun
    q = await source.quote("AAPL")
    assert q.session == TradingSession.REGULAR
    assert fake.count("/v7/finance/quote") == 2


async def test_concurrent_requests_share_one_fetch(fake: YahooFake, source: YahooQuoteSource) -> None:
    results = await asyncio.gather(*(source.quotes(["AMZN", "AAPL"]) for _ in range(8)))
    assert all(r["AMZN"].available and r["AAPL"].available for r in results)
    assert fake.count("/v7/finance/quote") == 1


@pytest.mark.parametrize("mode", ["garbage", "429", "500", "empty"])
async def test_quote_endpoint_failure_falls_back_to_the_chart(
    fake: YahooFake, source: YahooQuoteSource, mode: str
) -> None:
    _amzn(fake)
    fake.fail("quote", mode)  # type: ignore[arg-type]
    q = await source.quote("AMZN")
    assert (
        quote_view(q).line(with_arrow=False) == "AMZN $181.20 \u22120.82% pre-market"
    )  # same answer, from 1-minute bars
    assert fake.count("/v8/finance/chart/AMZN") >= 1
    st = source.status()
    assert st.batch_failures == 1 and st.chart_fallbacks == 1


async def test_crumb_failure_falls_back_to_the_chart(fake: YahooFake, source: YahooQuoteSource) -> None:
    fake.fail("crumb", "500")  # no crumb: the v7 endpoint answers 401 Invalid Crumb
    q = await source.quote("AAPL")
    assert q.available and q.session == TradingSession.PRE


async def test_hanging_yahoo_gives_no_price_within_the_deadline(
    fake: YahooFake, clock: ManualClock, calendar: ExchangeCalendar, yf_cache: Path
) -> None:
    fake.fail("all", "hang")
    config = MarketConfig(quote_timeout=0.5)
    async with YahooQuoteSource(config, calendar, yahoo_url=fake.url, clock=clock, cache_dir=yf_cache) as src:
        quotes = await src.quotes(["AMZN", "AAPL"])
    for q in quotes.values():
        assert q.price is None
        assert q.reason == "price unavailable: Yahoo Finance did not answer within 0.5s"
    fake.clear_failures()


async def test_a_late_answer_fills_the_cache(
    fake: YahooFake, clock: ManualClock, calendar: ExchangeCalendar, yf_cache: Path
) -> None:
    config = MarketConfig()  # the default deadline: the batch gets 60% of it, each request all of it
    async with YahooQuoteSource(config, calendar, yahoo_url=fake.url, clock=clock, cache_dir=yf_cache) as src:
        await src.quote("MSFT")  # cookie and crumb in place
        clock.advance(60)
        fake.fail("quote", "held", times=1)  # answers only when released: past the batch budget
        fake.fail("chart", "500")
        first = await src.quote("AMZN")
        assert first.price is None
        fake.release_held()  # the answer now arrives well within the request's own cap
        # the alert would be edited once the price arrives
        late = await wait_until(lambda: src.cached("AMZN"), what="the late answer in the cache")
        assert late.available
        requests = fake.count("/v7/finance/quote")
        assert (await src.quote("AMZN")) == late
        assert fake.count("/v7/finance/quote") == requests
        assert src.status().late_results == 1
        fake.clear_failures()


async def test_circuit_breaker_opens_and_recovers(
    fake: YahooFake,
    clock: ManualClock,
    calendar: ExchangeCalendar,
    yf_cache: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = MarketConfig(quote_timeout=2.0, breaker_failures=2, breaker_reset=30)
    caplog.set_level(logging.INFO, logger="bot.market.quotes")
    async with YahooQuoteSource(config, calendar, yahoo_url=fake.url, clock=clock, cache_dir=yf_cache) as src:
        fake.fail("quote", "500")
        fake.fail("chart", "500")
        for _ in range(2):
            assert (await src.quote("AAPL")).price is None
        st = src.status()
        assert st.breaker.state == "open" and st.breaker.consecutive_failures == 2
        assert any("circuit breaker open after 2 failures" in r.getMessage() for r in caplog.records)
        before = len(fake.requests)
        paused = await src.quote("AAPL")
        assert len(fake.requests) == before  # Yahoo is left alone while the breaker is open
        assert "paused" in (paused.reason or "")
        fake.clear_failures()
        clock.advance(31)
        recovered = await src.quote("AAPL")
        assert recovered.available
        assert src.status().breaker.state == "closed"
        assert any("back to normal" in r.getMessage() for r in caplog.records)


async def test_a_failed_chart_symbol_works_on_the_next_try(fake: YahooFake, source: YahooQuoteSource) -> None:
    fake.fail("quote", "500")
    fake.fail(
        "chart", "500", times=2
    )  # the chart request and yfinance's retry with the other cookie strategy
    assert (await source.quote("NVDA")).price is None
    q = await source.quote("NVDA")  # a fresh yf.Ticker, no stale state
    assert q.available


async def test_status_reports_the_endpoint(fake: YahooFake, source: YahooQuoteSource) -> None:
    await source.quotes(["AAPL", "NOSUCH"])
    st = source.status()
    assert st.endpoint == fake.url
    assert st.batch_requests == 1 and st.cache_misses == 2 and st.chart_fallbacks == 1


async def test_requests_reach_the_fake_through_yahoos_hosts(
    fake: YahooFake, source: YahooQuoteSource
) -> None:
    await source.quote("AAPL")
    hosts = {r.path: r.host for r in fake.requests}
    assert hosts["/"] == "fc.yahoo.com"
    assert hosts["/v1/test/getcrumb"] == "query1.finance.yahoo.com"
    assert hosts["/v7/finance/quote"] == "query1.finance.yahoo.com"
    quote_req = next(r for r in fake.requests if r.path == "/v7/finance/quote")
    assert quote_req.had_cookie and quote_req.query["crumb"]


def test_nothing_is_written_to_home(no_home_writes: Path, yf_cache: Path) -> None:
    assert not yf_cache.is_relative_to(no_home_writes)
    assert list(no_home_writes.iterdir()) == []
    assert not str(yf_cache).startswith(str(Path("~").expanduser() / ".cache"))


async def test_quotes_and_timeouts_keep_working_after_clock_jumps(
    fake: YahooFake, source: YahooQuoteSource, clock: ManualClock
) -> None:
    for hours in (0, 3, 6, 12, 24, 48):
        clock.set(et("2026-11-27 08:30") + timedelta(hours=hours))
        assert (await source.quote("SPY")).available


async def test_missing_extended_fields_are_checked_on_the_chart(
    fake: YahooFake, source: YahooQuoteSource, clock: ManualClock
) -> None:
    _amzn(fake)
    fake.set_day("AAPL", FRI, pre=NO_TRADES)
    fake.v7_extended = False  # Yahoo's quote rows lose preMarketPrice
    quotes = await source.quotes(["AMZN", "AAPL"])
    assert (
        quote_view(quotes["AMZN"]).line(with_arrow=False) == "AMZN $181.20 \u22120.82% pre-market"
    )  # from the 1-minute bars
    assert quotes["AAPL"].session == TradingSession.CLOSED  # nothing traded: Wednesday's close
    assert source.status().extended_checks == 2
    charts = fake.count("/v8/finance/chart")
    clock.advance(20)
    await source.quotes(["AMZN", "AAPL"])
    assert source.status().extended_checks == 3  # AMZN again; AAPL had nothing, it waits 5 minutes
    assert fake.count("/v8/finance/chart") == charts + 1


@pytest.mark.parametrize(
    ("scenario", "label"),
    [
        ("pre-market", "pre-market"),
        ("regular", "regular"),
        ("after-hours", "after hours"),
        ("early-close", "after hours"),
        ("holiday", "after hours"),  # Wednesday's after-hours trade is the latest price
        ("weekend", "after hours"),
        ("overnight", "after hours"),
    ],
)
async def test_named_scenarios(
    source: YahooQuoteSource, clock: ManualClock, scenario: str, label: str
) -> None:
    from tests.fakes.yahoo import SCENARIOS

    clock.set(et(SCENARIOS[scenario].replace("T", " ")))
    q = await source.quote("TSLA")
    assert q.available and str(q.session) == label

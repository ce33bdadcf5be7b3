"""A Yahoo Finance lookalike on 127.0.0.1, for the real yfinance to talk to.

It speaks the shapes yfinance 1.7 reads (see ``yfinance/data.py``, ``base.py``,
``scrapers/history.py`` and ``scrapers/quote.py``):

* the cookie/crumb dance: ``GET /`` (fc.yahoo.com) sets an ``A3`` cookie; ``GET
  /v1/test/getcrumb`` returns a crumb bound to that cookie; the v7 quote and v10
  quoteSummary endpoints refuse a missing or foreign crumb with 401 "Invalid Crumb", as
  Yahoo does; the chart endpoint needs none. ``/consent`` answers yfinance's fallback
  "csrf" strategy with a page that has no token (so it gives up cleanly).
* ``GET /v8/finance/chart/{symbol}`` with ``range``/``interval``/``includePrePost`` (or
  ``period1``/``period2``): timestamps, OHLCV indicators, and ``meta`` with
  regularMarketPrice/Time, chartPreviousClose, previousClose, currentTradingPeriod,
  tradingPeriods, exchangeTimezoneName ...; unknown or delisted symbols get Yahoo's 404
  ``{"chart": {"result": null, "error": {"code": "Not Found", ...}}}``.
* ``GET /v7/finance/quote?symbols=A,B,...``: ``quoteResponse.result`` rows with
  marketState (PREPRE, PRE, REGULAR, POST, POSTPOST, CLOSED), regularMarket*, preMarket*,
  postMarket* fields; unknown symbols are simply absent.
* ``POST /xhr/ncp?queryRef=latestNews&serviceKey=ncp_fin`` (finance.yahoo.com, what
  ``Ticker.news`` calls): ``data.tickerStream.stream`` of ``{"id", "content": {...}}``
  stories, with an ad mixed in.

Prices are a deterministic function of symbol and time, computed from exchange_calendars
sessions at the fake's clock (a ``ManualClock`` in tests), with per-day overrides so a test
can say "AMZN closed at 182.69 and trades at 181.20 pre-market". Ground truth for tests:
``price_at``, ``close_on``.

Misbehaviour: ``fail(endpoint, mode, times=None)`` with modes ``garbage`` (HTML instead of
JSON), ``429``, ``500``, ``401``, ``hang`` (never answers until the fake closes), ``empty``,
``slow`` (answers normally after ``slow_seconds``), ``held`` (answers normally once the test
calls ``release_held()``: a late answer without a race against the clock);
halted (``halted_at``) and delisted (``delisted=True``) instruments.

Run standalone for end-to-end tests: ``python -m tests.fakes.yahoo --port 8765
[--scenario pre-market|regular|after-hours|early-close|holiday|weekend|overnight | --at ISO]
[--fail quote:429]`` then ``MARKETBOT_YAHOO_URL=http://127.0.0.1:8765 marketbot quote AAPL``.
In-process: ``async with YahooFake(clock=...)``, or ``YahooFakeThread`` for sync code.
"""

from tests.fakes.yahoo.articles import Article
from tests.fakes.yahoo.calendars import SCENARIOS
from tests.fakes.yahoo.instruments import DEFAULT_INSTRUMENTS, NO_TRADES, Day, Instrument
from tests.fakes.yahoo.server import Request, YahooFake
from tests.fakes.yahoo.thread import YahooFakeThread
from tests.fakes.yahoo.wire import Endpoint, Mode

__all__ = [
    "DEFAULT_INSTRUMENTS",
    "NO_TRADES",
    "SCENARIOS",
    "Article",
    "Day",
    "Endpoint",
    "Instrument",
    "Mode",
    "Request",
    "YahooFake",
    "YahooFakeThread",
]

"""Market data: quotes, trading sessions, charts and Yahoo ticker news.

* ``bot.market.quotes.YahooQuoteSource`` - ``QuoteSource`` over yfinance (v7 batch, 1-minute
  chart fallback), deadline-bound, cached, single-flight, behind a circuit breaker.
* ``bot.market.sessions.ExchangeCalendar`` - ``MarketCalendar`` from exchange_calendars, with
  US pre-market / after hours and each symbol's own exchange.
* ``bot.market.charts.ChartRenderer`` - ``ChartSource``: PNG of the latest session.
* ``bot.market.news.YahooNewsSource`` - ``NewsSource`` over ``Ticker.news``.

Set ``MARKETBOT_YAHOO_URL`` to send every Yahoo request to another base URL (a Yahoo-shaped
test server); see ``bot.market.yahoo``. Modules import yfinance and matplotlib lazily or
only where used, so importing this package stays cheap.
"""

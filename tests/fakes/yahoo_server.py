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

Run standalone for end-to-end tests: ``python -m tests.fakes.yahoo_server --port 8765
[--scenario pre-market|regular|after-hours|early-close|holiday|weekend|overnight | --at ISO]
[--fail quote:429]`` then ``MARKETBOT_YAHOO_URL=http://127.0.0.1:8765 marketbot quote AAPL``.
In-process: ``async with YahooFake(clock=...)``, or ``YahooFakeThread`` for sync code.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import math
import secrets
import threading
import time as _time
import uuid
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo

from aiohttp import web

Endpoint = Literal["cookie", "crumb", "quote", "chart", "summary", "news", "all"]
Mode = Literal["garbage", "429", "500", "401", "hang", "empty", "slow", "held"]

NO_TRADES = -1.0  # a Day override meaning "no extended-hours trades in that session"


# ---------------------------------------------------------------- calendars


@lru_cache(maxsize=16)
def _cal(code: str) -> Any:
    import exchange_calendars as xcals

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return xcals.get_calendar(code)


@dataclass(frozen=True)
class _Times:
    day: date
    pre: datetime | None
    open: datetime
    close: datetime
    post: datetime | None
    break_start: datetime | None
    break_end: datetime | None

    @property
    def starts(self) -> datetime:
        return self.pre or self.open

    @property
    def ends(self) -> datetime:
        return self.post or self.close


def _utc(ts: Any) -> datetime:
    value: datetime = ts.to_pydatetime()
    return value.astimezone(UTC)


@lru_cache(maxsize=8192)
def _times(code: str, day: date) -> _Times | None:
    import pandas as pd

    cal = _cal(code)
    if not cal.is_session(day):
        return None
    open_, close = _utc(cal.session_open(day)), _utc(cal.session_close(day))
    bs = be = None
    if cal.has_break:
        s, e = cal.session_break_start(day), cal.session_break_end(day)
        if not (pd.isna(s) or pd.isna(e)):
            bs, be = _utc(s), _utc(e)
    pre = post = None
    if code == "XNYS":  # US extended hours: 04:00 ET to the open, close to close + 4 h (20:00 / 17:00)
        tz = ZoneInfo("America/New_York")
        pre = datetime.combine(day, time(4, 0), tzinfo=tz).astimezone(UTC)
        post = min(datetime.combine(day, time(20, 0), tzinfo=tz).astimezone(UTC), close + timedelta(hours=4))
    return _Times(day, pre, open_, close, post, bs, be)


def _prev_session(code: str, day: date) -> date:
    d = day - timedelta(days=1)
    while _times(code, d) is None:
        d -= timedelta(days=1)
    return d


def _day_of(code: str, when: datetime) -> date:
    """The trading day whose data is current at ``when`` (from its pre-market on)."""
    tz = ZoneInfo(str(_cal(code).tz))
    d = when.astimezone(tz).date()
    t = _times(code, d)
    if t is not None and t.starts <= when:
        return d
    return _prev_session(code, d)


# ---------------------------------------------------------------- instruments


@dataclass
class Day:
    """Overrides for one trading day of one instrument (None: use the generated value).

    ``pre``/``post`` are the prices of the extended-hours trades (flat through the
    session); ``NO_TRADES`` means nothing traded in that session.
    """

    close: float | None = None
    pre: float | None = None
    post: float | None = None
    volume: int | None = None


_EXCHANGE_INFO: dict[str, tuple[str, str, str, str]] = {
    # code: (yahoo exchange, fullExchangeName, market, timezone)
    "XNYS": ("NMS", "NasdaqGS", "us_market", "America/New_York"),
    "XTSE": ("TOR", "Toronto", "ca_market", "America/Toronto"),
    "XTKS": ("JPX", "Tokyo", "jp_market", "Asia/Tokyo"),
    "XLON": ("LSE", "LSE", "gb_market", "Europe/London"),
}


@dataclass
class Instrument:
    """A listed symbol the fake knows. Prices are generated from ``base`` unless overridden."""

    symbol: str
    name: str
    exchange: str = "XNYS"
    currency: str = "USD"
    base: float = 100.0
    quote_type: str = "EQUITY"
    days: dict[date, Day] = field(default_factory=dict)
    delisted: bool = False
    halted_at: datetime | None = None
    short_name: str | None = None  # Yahoo's shortName when it differs from longName (``name``)

    @property
    def extended(self) -> bool:
        return self.exchange == "XNYS" and self.quote_type in ("EQUITY", "ETF")

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(str(_cal(self.exchange).tz))

    def _rand(self, day: date, salt: str) -> float:
        h = hashlib.sha256(f"{self.symbol}:{day.isoformat()}:{salt}".encode()).digest()
        return int.from_bytes(h[:8], "big") / 2**64  # [0, 1)

    def close_on(self, day: date) -> float:
        """The regular close of ``day`` (a trading day)."""
        d = self.days.get(day)
        if d is not None and d.close is not None:
            return d.close
        wave = 0.08 * math.sin(day.toordinal() / 9.0 + self._rand(date(2000, 1, 1), "phase") * 6.28)
        noise = (self._rand(day, "close") - 0.5) * 0.03
        return round(self.base * (1 + wave + noise), 2)

    def pre_price(self, day: date) -> float | None:
        d = self.days.get(day)
        if d is not None and d.pre is not None:
            return None if d.pre == NO_TRADES else d.pre
        prev = self.close_on(_prev_session(self.exchange, day))
        return round(prev * (1 + (self._rand(day, "pre") - 0.5) * 0.02), 2)

    def post_price(self, day: date) -> float | None:
        d = self.days.get(day)
        if d is not None and d.post is not None:
            return None if d.post == NO_TRADES else d.post
        return round(self.close_on(day) * (1 + (self._rand(day, "post") - 0.5) * 0.015), 2)

    def open_on(self, day: date) -> float:
        return self.pre_price(day) or self.close_on(_prev_session(self.exchange, day))

    def regular_price(self, day: date, when: datetime) -> float:
        """The regular-session price path: open -> close with a deterministic wiggle."""
        t = _times(self.exchange, day)
        assert t is not None
        if when >= t.close:
            return self.close_on(day)
        span = (t.close - t.open).total_seconds()
        x = max(0.0, min(1.0, (when - t.open).total_seconds() / span))
        o, c = self.open_on(day), self.close_on(day)
        wiggle = 0.004 * o * math.sin(x * math.pi * 7 + self._rand(day, "w") * 6.28) * math.sin(x * math.pi)
        return round(o + (c - o) * x + wiggle, 4)

    def volume_on(self, day: date) -> int:
        d = self.days.get(day)
        if d is not None and d.volume is not None:
            return d.volume
        return int(1_000_000 + self._rand(day, "v") * 40_000_000)


DEFAULT_INSTRUMENTS = (
    Instrument("AAPL", "Apple Inc.", base=230.0),
    Instrument("AMZN", "Amazon.com, Inc.", base=185.0),
    Instrument("MSFT", "Microsoft Corporation", base=420.0),
    Instrument("NVDA", "NVIDIA Corporation", base=140.0),
    Instrument("TSLA", "Tesla, Inc.", base=250.0),
    Instrument("SPY", "SPDR S&P 500 ETF Trust", base=590.0, quote_type="ETF"),
    Instrument("SHOP.TO", "Shopify Inc.", exchange="XTSE", currency="CAD", base=150.0),
    Instrument("7203.T", "TOYOTA MOTOR CORP", exchange="XTKS", currency="JPY", base=2800.0),
)


# ---------------------------------------------------------------- news


@dataclass
class Article:
    """A story in a ticker's Yahoo news stream."""

    title: str
    summary: str
    published: datetime
    provider: str = "Reuters"
    url: str = ""  # the publisher's URL (clickThroughUrl); empty: hosted on Yahoo
    tickers: tuple[str, ...] = ()
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    content_type: str = "STORY"

    def to_yahoo(self) -> dict[str, Any]:
        slug = "-".join("".join(c if c.isalnum() else " " for c in self.title.lower()).split())[:80]
        hosted = f"https://finance.yahoo.com/news/{slug}-{self.id[:9]}.html"
        stamp = self.published.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "id": self.id,
            "content": {
                "id": self.id,
                "contentType": self.content_type,
                "title": self.title,
                "description": "",
                "summary": self.summary,
                "pubDate": stamp,
                "displayTime": stamp,
                "isHosted": not self.url,
                "bypassModal": False,
                "previewUrl": None,
                "thumbnail": {
                    "originalUrl": "https://media.zenfs.com/en/reuters.com/0123456789abcdef",
                    "originalWidth": 1200,
                    "originalHeight": 800,
                    "caption": "",
                    "resolutions": [],
                },
                "provider": {
                    "displayName": self.provider,
                    "url": "https://www.reuters.com/",
                    "sourceId": "reuters.com",
                },
                "canonicalUrl": {"url": hosted, "site": "finance", "region": "US", "lang": "en-US"},
                "clickThroughUrl": {
                    "url": self.url or hosted,
                    "site": "finance",
                    "region": "US",
                    "lang": "en-US",
                },
                "metadata": {"editorsPick": False},
                "finance": {
                    "premiumFinance": {"isPremiumNews": False, "isPremiumFreeNews": False},
                    "stockTickers": [{"symbol": t} for t in self.tickers],
                },
                "storyline": None,
            },
        }


_AD = {
    "id": "ad-0001",
    "ad": [{"adId": "0001", "type": "native", "title": "Open a brokerage account today"}],
    "content": {"id": "ad-0001", "contentType": "AD", "title": "Sponsored"},
}


# ---------------------------------------------------------------- the server


@dataclass(frozen=True)
class Request:
    """One request as the fake saw it."""

    method: str
    path: str
    host: str | None
    query: dict[str, str]
    had_cookie: bool
    at: float


class _Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class YahooFake:
    """The fake. ``async with YahooFake(clock=...) as fake: fake.url`` is the base URL."""

    def __init__(
        self,
        *,
        clock: Any | None = None,
        instruments: Iterable[Instrument] = DEFAULT_INSTRUMENTS,
        require_crumb: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.clock = clock or _Clock()
        self.instruments: dict[str, Instrument] = {}
        for inst in instruments:  # copies: a test's set_day must not leak into the next fake
            fields = {k: getattr(inst, k) for k in inst.__dataclass_fields__}
            fields["days"] = {d: Day(**vars(v)) for d, v in inst.days.items()}
            self.add(Instrument(**fields))
        self.news: dict[str, list[Article]] = {}
        self.require_crumb = require_crumb
        self.slow_seconds = 1.0  # how long "slow" waits before answering normally
        self.v7_extended = True  # False: v7 rows leave out preMarket*/postMarket* (as Yahoo has done)
        self.requests: list[Request] = []
        self._failures: dict[str, list[tuple[Mode, int | None]]] = {}
        self._crumbs: dict[str, str] = {}  # A3 cookie -> crumb
        self._host, self._port = host, port
        self._release = asyncio.Event()
        self._held = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    # ------------------------------------------------------------ set-up

    def add(self, inst: Instrument) -> Instrument:
        self.instruments[inst.symbol.upper()] = inst
        return inst

    def add_generated(self, symbols: Iterable[str]) -> None:
        """US equities with generated prices (benchmarks want many symbols)."""
        for i, sym in enumerate(symbols):
            self.add(Instrument(sym.upper(), f"{sym.upper()} Holdings Inc.", base=20.0 + (i * 7.3) % 400))

    def set_day(self, symbol: str, day: date, **values: Any) -> None:
        """Override one day's close / pre / post / volume for ``symbol``."""
        inst = self.instruments[symbol.upper()]
        current = inst.days.get(day) or Day()
        for k, v in values.items():
            setattr(current, k, v)
        inst.days[day] = current

    def fail(self, endpoint: Endpoint, mode: Mode, times: int | None = None) -> None:
        """Make ``endpoint`` misbehave (``times`` requests, or until ``clear_failures``)."""
        self._failures.setdefault(endpoint, []).append((mode, times))

    def clear_failures(self) -> None:
        self._failures.clear()
        self._release.set()
        self._release = asyncio.Event()

    def release_held(self) -> None:
        """Let the requests held by a ``held`` failure answer normally now."""
        self._held.set()
        self._held = asyncio.Event()

    def count(self, path_prefix: str) -> int:
        """How many requests hit paths starting with ``path_prefix``."""
        return sum(1 for r in self.requests if r.path.startswith(path_prefix))

    # ------------------------------------------------------------ ground truth

    def now(self) -> datetime:
        return self.clock.now().astimezone(UTC)

    def close_on(self, symbol: str, day: date) -> float:
        return self.instruments[symbol.upper()].close_on(day)

    def price_at(self, symbol: str, when: datetime) -> tuple[float, str] | None:
        """(price, kind) of the latest trade at ``when``: kind is pre, regular or post."""
        inst = self.instruments[symbol.upper()]
        pts = self._points(inst, when)
        best = max((p for p in pts.values() if p is not None), key=lambda p: p[1], default=None)
        if best is None:
            return None
        kind = next(k for k, v in pts.items() if v == best)
        return best[0], kind

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/", self._cookie)
        app.router.add_get("/v1/test/getcrumb", self._crumb)
        app.router.add_get("/v7/finance/quote", self._quote)
        app.router.add_get("/v8/finance/chart/{symbol}", self._chart)
        app.router.add_get("/v10/finance/quoteSummary/{symbol}", self._summary)
        app.router.add_post("/xhr/ncp", self._news)
        app.router.add_get("/consent", self._consent)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self.url = f"http://{self._host}:{port}"
        return self.url

    async def close(self) -> None:
        self._release.set()
        self._held.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> YahooFake:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------ plumbing

    def _record(self, request: web.Request) -> None:
        self.requests.append(
            Request(
                method=request.method,
                path=request.path,
                host=request.headers.get("X-Forwarded-Host"),
                query=dict(request.query),
                had_cookie="A3" in request.cookies,
                at=_time.monotonic(),
            )
        )

    async def _misbehave(self, endpoint: str) -> web.StreamResponse | None:
        for key in (endpoint, "all"):
            plans = self._failures.get(key)
            if not plans:
                continue
            mode, times = plans[0]
            if times is not None:
                if times <= 1:
                    plans.pop(0)
                else:
                    plans[0] = (mode, times - 1)
            if mode == "slow":
                await asyncio.sleep(self.slow_seconds)  # noqa: TID251 - a slow Yahoo is the behaviour under test
                return None
            if mode == "held":
                await self._held.wait()
                return None
            return await self._failure(mode)
        return None

    async def _failure(self, mode: Mode) -> web.StreamResponse:
        if mode == "hang":
            release = self._release
            with contextlib.suppress(asyncio.CancelledError):
                await release.wait()
            return web.Response(status=503, text="released")
        if mode == "garbage":
            return web.Response(
                status=200,
                content_type="text/html",
                text="<html><head><title>Yahoo</title></head><body>Will be right back...</body></html>",
            )
        if mode == "429":
            return web.Response(status=429, content_type="text/html", text="Too Many Requests\r\n")
        if mode == "401":
            return _json(
                {
                    "finance": {
                        "result": None,
                        "error": {"code": "Unauthorized", "description": "Invalid Crumb"},
                    }
                },
                401,
            )
        if mode == "empty":
            return web.Response(status=200, content_type="application/json", text="")
        return _json(
            {
                "finance": {
                    "result": None,
                    "error": {"code": "Internal Server Error", "description": "Internal error"},
                }
            },
            500,
        )

    def _crumb_ok(self, request: web.Request) -> bool:
        if not self.require_crumb:
            return True
        cookie = request.cookies.get("A3")
        return cookie is not None and self._crumbs.get(cookie) == request.query.get("crumb")

    # ------------------------------------------------------------ cookie / crumb

    async def _cookie(self, request: web.Request) -> web.StreamResponse:
        self._record(request)
        if (bad := await self._misbehave("cookie")) is not None:
            return bad
        resp = web.Response(
            status=404, content_type="text/html", text="<html><body>fc.yahoo.com</body></html>"
        )
        if request.cookies.get("A3") in self._crumbs:
            return resp  # a browser that already has its cookie keeps it (and its crumb)
        value = "d=AQABBK" + secrets.token_urlsafe(24) + "&S=AQAAA" + secrets.token_urlsafe(12)
        self._crumbs[value] = ""
        # Yahoo sets Domain=.yahoo.com; Secure - a loopback fake cannot, so host-only, plain http
        resp.set_cookie("A3", value, max_age=31557600, path="/", httponly=True, samesite="None")
        return resp

    async def _crumb(self, request: web.Request) -> web.StreamResponse:
        self._record(request)
        if (bad := await self._misbehave("crumb")) is not None:
            return bad
        cookie = request.cookies.get("A3")
        if cookie is None or cookie not in self._crumbs:
            return web.Response(
                status=401, content_type="text/html", text="<html><body>Unauthorized</body></html>"
            )
        crumb = self._crumbs[cookie] or secrets.token_urlsafe(8).replace("-", ".")[:11]
        self._crumbs[cookie] = crumb
        return web.Response(status=200, content_type="text/plain", text=crumb)

    async def _consent(self, request: web.Request) -> web.StreamResponse:
        self._record(request)
        return web.Response(
            status=200, content_type="text/html", text="<html><body><form></form></body></html>"
        )

    async def _not_found(self, request: web.Request) -> web.StreamResponse:
        self._record(request)
        return web.Response(status=404, content_type="text/html", text="<html><body>Not Found</body></html>")

    # ------------------------------------------------------------ quotes

    def _points(self, inst: Instrument, now: datetime) -> dict[str, tuple[float, datetime] | None]:
        """The latest pre / regular / post trades at ``now`` (Yahoo's view of 'today')."""
        code = inst.exchange
        day = _day_of(code, now)
        t = _times(code, day)
        assert t is not None
        prev = _prev_session(code, day)
        tprev = _times(code, prev)
        assert tprev is not None
        halted = inst.halted_at
        pre = regular = post = None
        if now < t.open:
            regular = (inst.close_on(prev), tprev.close + timedelta(seconds=1))
            if inst.extended and t.pre is not None and (p := inst.pre_price(day)) is not None:
                first = t.pre + timedelta(minutes=1)
                if now >= first:
                    pre = (p, min(now, t.open).replace(microsecond=0))
        elif now < t.close:
            at = now.replace(microsecond=0)
            if halted is not None and halted <= now:
                at = max(halted.replace(microsecond=0), t.open)
            regular = (inst.regular_price(day, at), at)
        else:
            close_at = t.close + timedelta(seconds=1)
            if halted is not None and halted < t.close:
                close_at = max(halted.replace(microsecond=0), t.open)
                regular = (inst.regular_price(day, close_at), close_at)
            else:
                regular = (inst.close_on(day), close_at)
            if (
                inst.extended
                and t.post is not None
                and (p := inst.post_price(day)) is not None
                and not halted
            ):
                first = t.close + timedelta(minutes=1)
                if now >= first:
                    post = (p, min(now, t.post - timedelta(seconds=1)).replace(microsecond=0))
        return {"pre": pre, "regular": regular, "post": post}

    def _market_state(self, inst: Instrument, now: datetime) -> str:
        local = now.astimezone(inst.tz)
        t = _times(inst.exchange, local.date())
        if t is None:
            return "CLOSED"
        if now < t.starts:
            return "PREPRE"
        if t.pre is not None and now < t.open:
            return "PRE"
        if now < t.close:
            return "REGULAR"
        if t.post is not None and now < t.post:
            return "POST"
        return "POSTPOST"

    def _quote_row(self, inst: Instrument, now: datetime) -> dict[str, Any]:
        code = inst.exchange
        yexch, full, market, tzname = _EXCHANGE_INFO.get(code, ("NMS", code, "us_market", "America/New_York"))
        pts = self._points(inst, now)
        day = _day_of(code, now)
        prev = _prev_session(code, day)
        regular = pts["regular"]
        assert regular is not None
        # Yahoo's previous close belongs to the regular price's own day
        reg_day = day if regular[1] >= _times(code, day).open else prev  # type: ignore[union-attr]
        prev_close = inst.close_on(_prev_session(code, reg_day))
        offset = int(now.astimezone(inst.tz).utcoffset().total_seconds() * 1000)  # type: ignore[union-attr]
        row: dict[str, Any] = {
            "language": "en-US",
            "region": "US",
            "quoteType": inst.quote_type,
            "typeDisp": "Equity" if inst.quote_type == "EQUITY" else inst.quote_type.title(),
            "quoteSourceName": "Nasdaq Real Time Price",
            "triggerable": True,
            "customPriceAlertConfidence": "HIGH",
            "currency": inst.currency,
            "marketState": self._market_state(inst, now),
            "exchange": yexch,
            "shortName": inst.short_name or inst.name,
            "longName": inst.name,
            "messageBoardId": f"finmb_{abs(hash(inst.symbol)) % 10**8}",
            "exchangeTimezoneName": tzname,
            "exchangeTimezoneShortName": now.astimezone(inst.tz).tzname(),
            "gmtOffSetMilliseconds": offset,
            "market": market,
            "esgPopulated": False,
            "hasPrePostMarketData": inst.extended,
            "firstTradeDateMilliseconds": 345479400000,
            "priceHint": 2,
            "regularMarketPrice": regular[0],
            "regularMarketTime": int(regular[1].timestamp()),
            "regularMarketChange": round(regular[0] - prev_close, 4),
            "regularMarketChangePercent": round((regular[0] - prev_close) / prev_close * 100, 6),
            "regularMarketPreviousClose": prev_close,
            "regularMarketOpen": inst.open_on(reg_day),
            "regularMarketDayHigh": round(max(regular[0], inst.open_on(reg_day)) * 1.004, 2),
            "regularMarketDayLow": round(min(regular[0], inst.open_on(reg_day)) * 0.996, 2),
            "regularMarketVolume": inst.volume_on(reg_day),
            "bid": round(regular[0] - 0.02, 2),
            "ask": round(regular[0] + 0.02, 2),
            "bidSize": 4,
            "askSize": 6,
            "fullExchangeName": full,
            "financialCurrency": inst.currency,
            "averageDailyVolume3Month": 41_000_000,
            "fiftyTwoWeekHigh": round(inst.base * 1.25, 2),
            "fiftyTwoWeekLow": round(inst.base * 0.75, 2),
            "tradeable": inst.halted_at is None,
            "cryptoTradeable": False,
            "sourceInterval": 15,
            "exchangeDataDelayedBy": 0,
            "symbol": inst.symbol,
        }
        row["regularMarketDayRange"] = f"{row['regularMarketDayLow']} - {row['regularMarketDayHigh']}"
        for kind in ("pre", "post"):
            p = pts[kind]
            if p is not None and self.v7_extended:
                row[f"{kind}MarketPrice"] = p[0]
                row[f"{kind}MarketTime"] = int(p[1].timestamp())
                row[f"{kind}MarketChange"] = round(p[0] - regular[0], 4)
                row[f"{kind}MarketChangePercent"] = round((p[0] - regular[0]) / regular[0] * 100, 6)
        return row

    async def _quote(self, request: web.Request) -> web.StreamResponse:
        self._record(request)
        if (bad := await self._misbehave("quote")) is not None:
            return bad
        if not self._crumb_ok(request):
            return _json(
                {
                    "finance": {
                        "result": None,
                        "error": {"code": "Unauthorized", "description": "Invalid Crumb"},
                    }
                },
                401,
            )
        now = self.now()
        rows = []
        for sym in request.query.get("symbols", "").split(","):
            inst = self.instruments.get(sym.strip().upper())
            if inst is None or inst.delisted:
                continue
            rows.append(self._quote_row(inst, now))
        return _json({"quoteResponse": {"result": rows, "error": None}})

    async def _summary(self, request: web.Request) -> web.StreamResponse:
        self._record(request)
        if (bad := await self._misbehave("summary")) is not None:
            return bad
        if not self._crumb_ok(request):
            return _json(
                {
                    "finance": {
                        "result": None,
                        "error": {"code": "Unauthorized", "description": "Invalid Crumb"},
                    }
                },
                401,
            )
        sym = request.match_info["symbol"].upper()
        inst = self.instruments.get(sym)
        if inst is None or inst.delisted:
            return _json(
                {
                    "quoteSummary": {
                        "result": None,
                        "error": {"code": "Not Found", "description": f"Quote not found for symbol: {sym}"},
                    }
                },
                404,
            )
        row = self._quote_row(inst, self.now())
        price = {
            k: row[k]
            for k in ("currency", "exchange", "shortName", "longName", "regularMarketPrice", "marketState")
        }
        quote_type = {
            "symbol": sym,
            "quoteType": inst.quote_type,
            "exchangeTimezoneName": row["exchangeTimezoneName"],
        }
        return _json({"quoteSummary": {"result": [{"price": price, "quoteType": quote_type}], "error": None}})

    # ------------------------------------------------------------ chart

    async def _chart(self, request: web.Request) -> web.StreamResponse:
        self._record(request)
        if (bad := await self._misbehave("chart")) is not None:
            return bad
        sym = request.match_info["symbol"].upper()
        inst = self.instruments.get(sym)
        if inst is None or inst.delisted:
            return _json(
                {
                    "chart": {
                        "result": None,
                        "error": {
                            "code": "Not Found",
                            "description": "No data found, symbol may be delisted",
                        },
                    }
                },
                404,
            )
        q = request.query
        interval = q.get("interval", "1d")
        prepost = q.get("includePrePost", "false").lower() == "true" and inst.extended
        step = _INTERVALS.get(interval)
        if step is None:
            return _json(
                {
                    "chart": {
                        "result": None,
                        "error": {"code": "Bad Request", "description": f"Invalid interval {interval}"},
                    }
                },
                400,
            )
        now = self.now()
        days = self._chart_days(inst, q, now)
        return _json(
            {
                "chart": {
                    "result": [
                        self._chart_result(inst, days, interval, step, prepost, now, q.get("range", ""))
                    ],
                    "error": None,
                }
            }
        )

    def _chart_days(self, inst: Instrument, q: Any, now: datetime) -> list[date]:
        code = inst.exchange
        last = _day_of(code, now)
        if "period1" in q:
            start = datetime.fromtimestamp(int(q["period1"]), UTC)
            end = datetime.fromtimestamp(int(q.get("period2", now.timestamp())), UTC)
            out: list[date] = []
            d = last
            while True:
                t = _times(code, d)
                if t is not None and t.open < end and t.close > start:
                    out.append(d)
                if t is not None and t.close <= start:
                    break
                d -= timedelta(days=1)
                if len(out) > 400 or (last - d).days > 800:
                    break
            return sorted(out)
        n = {"1d": 1, "5d": 5, "1mo": 21, "3mo": 63}.get(q.get("range", "1mo"), 21)
        out = [last]
        while len(out) < n:
            out.append(_prev_session(code, out[-1]))
        return sorted(out)

    def _chart_result(
        self,
        inst: Instrument,
        days: list[date],
        interval: str,
        step: int,
        prepost: bool,
        now: datetime,
        rng: str,
    ) -> dict[str, Any]:
        code = inst.exchange
        stamps: list[int] = []
        o: list[float | None] = []
        h: list[float | None] = []
        lo: list[float | None] = []
        c: list[float | None] = []
        v: list[int | None] = []
        for day in days:
            t = _times(code, day)
            assert t is not None
            if step >= 86400:
                start = datetime.combine(day, time(0), tzinfo=inst.tz).astimezone(UTC)
                price = self._price(inst, day, min(now, t.close))
                if price is None:
                    continue
                stamps.append(int(t.open.timestamp()) if step == 86400 else int(start.timestamp()))
                op = inst.open_on(day)
                o.append(op)
                h.append(round(max(op, price) * 1.004, 4))
                lo.append(round(min(op, price) * 0.996, 4))
                c.append(price)
                v.append(inst.volume_on(day))
                continue
            begin = t.starts if prepost else t.open
            end = min(now, t.ends if prepost else t.close)
            bar = begin
            while bar < end:
                if t.break_start and t.break_end and t.break_start <= bar < t.break_end:
                    bar += timedelta(seconds=step)
                    continue
                probe = min(bar + timedelta(seconds=step) - timedelta(seconds=1), end)
                price = self._price(inst, day, probe)
                if price is not None:
                    stamps.append(int(bar.timestamp()))
                    first = self._price(inst, day, bar) or price
                    o.append(first)
                    h.append(round(max(first, price) * 1.0003, 4))
                    lo.append(round(min(first, price) * 0.9997, 4))
                    c.append(price)
                    v.append(int(1000 + (hash((inst.symbol, bar)) % 50_000)))
                bar += timedelta(seconds=step)
        last = days[-1]
        tl = _times(code, last)
        assert tl is not None
        prev_close = inst.close_on(_prev_session(code, days[0]))
        pts = self._points(inst, now)
        regular = pts["regular"]
        assert regular is not None
        tzname = str(inst.tz)
        offset = int(now.astimezone(inst.tz).utcoffset().total_seconds())  # type: ignore[union-attr]
        abbrev = now.astimezone(inst.tz).tzname()

        def period(a: datetime, b: datetime) -> dict[str, Any]:
            return {
                "timezone": abbrev,
                "start": int(a.timestamp()),
                "end": int(b.timestamp()),
                "gmtoffset": offset,
            }

        current = {
            "pre": period(tl.pre or tl.open, tl.open),
            "regular": period(tl.open, tl.close),
            "post": period(tl.close, tl.post or tl.close),
        }
        meta: dict[str, Any] = {
            "currency": inst.currency,
            "symbol": inst.symbol,
            "exchangeName": _EXCHANGE_INFO.get(code, ("NMS",))[0],
            "fullExchangeName": _EXCHANGE_INFO.get(code, ("", "NasdaqGS"))[1],
            "instrumentType": inst.quote_type,
            "firstTradeDate": 345479400,
            "regularMarketTime": int(regular[1].timestamp()),
            "hasPrePostMarketData": inst.extended,
            "gmtoffset": offset,
            "timezone": abbrev,
            "exchangeTimezoneName": tzname,
            "regularMarketPrice": regular[0],
            "fiftyTwoWeekHigh": round(inst.base * 1.25, 2),
            "fiftyTwoWeekLow": round(inst.base * 0.75, 2),
            "regularMarketDayHigh": round(max(regular[0], inst.open_on(last)) * 1.004, 2),
            "regularMarketDayLow": round(min(regular[0], inst.open_on(last)) * 0.996, 2),
            "regularMarketVolume": inst.volume_on(last),
            "longName": inst.name,
            "shortName": inst.name,
            "chartPreviousClose": prev_close,
            "priceHint": 2,
            "currentTradingPeriod": current,
            "dataGranularity": interval,
            "range": rng,
            "validRanges": ["1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max"],
        }
        if rng == "1d":
            meta["previousClose"] = prev_close
            meta["scale"] = 3
        if step < 86400:
            spans = [t for t in (_times(code, d) for d in days) if t is not None]
            if prepost:
                meta["tradingPeriods"] = {
                    "pre": [[period(t.pre or t.open, t.open)] for t in spans],
                    "regular": [[period(t.open, t.close)] for t in spans],
                    "post": [[period(t.close, t.post or t.close)] for t in spans],
                }
            else:
                meta["tradingPeriods"] = [[period(t.open, t.close)] for t in spans]
        result: dict[str, Any] = {
            "meta": meta,
            "indicators": {"quote": [{"open": o, "high": h, "low": lo, "close": c, "volume": v}]},
        }
        if stamps:
            result["timestamp"] = stamps
        else:
            result["indicators"] = {"quote": [{}]}
        if step >= 86400:
            result["indicators"]["adjclose"] = [{"adjclose": list(c)}]
        return result

    def _price(self, inst: Instrument, day: date, when: datetime) -> float | None:
        """The price at ``when`` on ``day``: the latest trade so far (None before any)."""
        t = _times(inst.exchange, day)
        assert t is not None
        halted = inst.halted_at
        if halted is not None and when >= halted:
            if halted < t.open:
                return None
            when = halted
        if when < t.open:
            if not inst.extended or t.pre is None or when < t.pre + timedelta(minutes=1):
                return None
            return inst.pre_price(day)
        if when < t.close:
            return inst.regular_price(day, when)
        if inst.extended and t.post is not None and when >= t.close + timedelta(minutes=1) and not halted:
            p = inst.post_price(day)
            return p if p is not None else None
        return inst.close_on(day) if when < t.close + timedelta(minutes=1) or not inst.extended else None

    # ------------------------------------------------------------ news

    def articles_for(self, symbol: str) -> list[Article]:
        sym = symbol.upper()
        if sym not in self.news:
            inst = self.instruments.get(sym)
            if inst is None:
                return []
            now = self.now()
            self.news[sym] = [
                Article(
                    title=f"{inst.name} shares move as analysts weigh outlook &amp; guidance",
                    summary=f"<p>Analysts at several banks updated their views on <b>{inst.name}</b>.</p>",
                    published=now - timedelta(minutes=45),
                    url=f"https://www.reuters.com/markets/{sym.lower()}-outlook-2026/?utm_source=yahoo&utm_medium=referral#main",
                    tickers=(sym,),
                    id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{sym}-1")),
                ),
                Article(
                    title=f"What to watch for {sym} this week",
                    summary="A preview of the week&#39;s events.",
                    published=now - timedelta(hours=5),
                    provider="Yahoo Finance",
                    tickers=(sym,),
                    id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{sym}-2")),
                ),
            ]
        return self.news[sym]

    async def _news(self, request: web.Request) -> web.StreamResponse:
        self._record(request)
        if (bad := await self._misbehave("news")) is not None:
            return bad
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _json({"error": "bad request"}, 400)
        config = body.get("serviceConfig", {}) if isinstance(body, dict) else {}
        symbols = config.get("s") or []
        count = int(config.get("snippetCount", 10))
        stream: list[dict[str, Any]] = []
        for sym in symbols:
            stream.extend(a.to_yahoo() for a in self.articles_for(str(sym))[:count])
        if stream:
            stream.insert(min(1, len(stream)), dict(_AD))
        return _json(
            {
                "data": {"tickerStream": {"stream": stream, "nextPage": False, "pagination": {"uuids": ""}}},
                "status": "OK",
            }
        )


# Named moments around Thanksgiving 2026 (New York time) for ``--scenario`` and tests.
SCENARIOS: dict[str, str] = {
    "pre-market": "2026-11-27T08:30",  # day after Thanksgiving, before the open
    "regular": "2026-11-25T11:00",
    "after-hours": "2026-11-25T17:30",
    "early-close": "2026-11-27T13:30",  # after the 13:00 early close
    "holiday": "2026-11-26T12:00",  # Thanksgiving
    "weekend": "2026-11-28T12:00",
    "overnight": "2026-11-25T23:00",
}

_INTERVALS = {
    "1m": 60,
    "2m": 120,
    "5m": 300,
    "15m": 900,
    "30m": 1800,
    "60m": 3600,
    "90m": 5400,
    "1h": 3600,
    "1d": 86400,
    "5d": 432000,
    "1wk": 604800,
}


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.Response(
        status=status, content_type="application/json", text=json.dumps(payload, separators=(",", ":"))
    )


# ---------------------------------------------------------------- running it elsewhere


class YahooFakeThread:
    """The fake on its own event loop in a background thread (for sync tests and subprocesses)."""

    def __init__(self, **kwargs: Any) -> None:
        self._kwargs = kwargs
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="yahoo-fake", daemon=True)
        self.fake: YahooFake

    def __enter__(self) -> YahooFake:
        self._thread.start()

        async def make() -> YahooFake:
            fake = YahooFake(**self._kwargs)
            await fake.start()
            return fake

        self.fake = asyncio.run_coroutine_threadsafe(make(), self._loop).result(10)
        return self.fake

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the fake's loop (e.g. ``lambda: fake.fail("quote", "hang")``)."""

        async def run() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.fake.close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


def main(argv: list[str] | None = None) -> None:
    """``python -m tests.fakes.yahoo_server --port 8765 [--at ISO] [--fail quote:429]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--at", help="freeze the fake's clock at this ISO time (default: real time)")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), help="freeze the clock at a named moment")
    parser.add_argument(
        "--fail", action="append", default=[], help="ENDPOINT:MODE, e.g. quote:429 or all:hang"
    )
    args = parser.parse_args(argv)

    class Frozen:
        def __init__(self, at: datetime) -> None:
            self.at = at

        def now(self) -> datetime:
            return self.at

    clock = None
    if args.scenario and not args.at:
        args.at = SCENARIOS[args.scenario]
    if args.at:
        at = datetime.fromisoformat(args.at)
        clock = Frozen(at if at.tzinfo else at.replace(tzinfo=ZoneInfo("America/New_York")))

    async def serve() -> None:
        fake = YahooFake(clock=clock, host=args.host, port=args.port)
        for spec in args.fail:
            endpoint, _, mode = spec.partition(":")
            fake.fail(endpoint, mode)
        await fake.start()
        print(f"Yahoo fake listening on {fake.url}", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await fake.close()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()

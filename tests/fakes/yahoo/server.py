"""The fake's server: set-up, ground truth, lifecycle, misbehaviour and the cookie/crumb dance; the
routes live in ``quotes``, ``chart`` and ``news``."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time as _time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from aiohttp import web

from bot.domain.timeutil import SystemClock
from tests.fakes.yahoo.articles import Article
from tests.fakes.yahoo.chart import ChartRoutes
from tests.fakes.yahoo.instruments import DEFAULT_INSTRUMENTS, Day, Instrument
from tests.fakes.yahoo.news import NewsRoutes
from tests.fakes.yahoo.quotes import QuoteRoutes
from tests.fakes.yahoo.wire import Endpoint, Mode, _json

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


class YahooFake(QuoteRoutes, ChartRoutes, NewsRoutes):
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
        self.clock = clock or SystemClock()
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

"""The bot's HTTP server: ``/healthz``, ``/readyz``, ``/metrics`` and, in Slack HTTP mode, ``/slack/events``.

Health, readiness and metrics come from callables the app provides, so this module knows no
service. ``/healthz`` is liveness plus what an operator must fix (paused platforms, the quote
breaker); ``/readyz`` answers 200 only while this replica can do its work — the database
answers and every chat platform it serves is connected — so a load balancer (Slack HTTP mode
behind several replicas) sends requests only to replicas that can answer them.
Hostile input stays cheap and quiet: a body announced larger than ``MAX_BODY_BYTES`` is
refused with 413 before anything reads it, and HTTP that aiohttp cannot parse (garbage on the
socket, broken headers or chunking) is answered 400 by aiohttp and logged as one debug line
instead of a traceback per request. ``/slack/events`` checks Slack's signature itself, over
the raw bytes, before parsing anything (``bot.chat.slack_http``).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from bot.metrics import CONTENT_TYPE, METRICS

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024

HealthCheck = Callable[[], Awaitable[dict[str, Any]]]
# the scrape-time values: a mapping, or a coroutine function returning one
MetricsSource = Callable[[], Mapping[str, float] | Awaitable[Mapping[str, float]]]
RouteDef = tuple[str, str, Callable[[web.Request], Awaitable[web.StreamResponse]]]


class QuietProtocolErrors(logging.Filter):
    """aiohttp logs every unparseable request with a traceback: anyone could fill the log.

    Records carrying an ``HttpProcessingError`` become one line without the traceback, kept
    only when debug logging is on.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError):
            return True
        detail = " ".join(str(getattr(exc, "message", "") or exc).split())[:200]
        record.msg = f"{record.getMessage()}: {type(exc).__name__}: {detail}"
        record.args = ()
        record.exc_info = None
        record.exc_text = None
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def quiet_protocol_errors() -> None:
    """Install ``QuietProtocolErrors`` on aiohttp's server logger (once)."""
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, QuietProtocolErrors) for f in server_log.filters):
        server_log.addFilter(QuietProtocolErrors())


@web.middleware
async def _body_limit(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        return web.Response(status=413, text=f"the body is larger than {MAX_BODY_BYTES // 1024} KiB")
    return await handler(request)


class WebServer:
    """aiohttp server bound to ``host:port``; start with ``start()``, stop with ``aclose()``."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        health: HealthCheck,
        metrics: MetricsSource,
        ready: HealthCheck | None = None,
        routes: Iterable[RouteDef] = (),
    ) -> None:
        self.host, self.port = host, port
        self._health, self._metrics, self._ready = health, metrics, ready
        self.app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[_body_limit])
        self.app.router.add_get("/healthz", self._healthz)
        self.app.router.add_get("/readyz", self._readyz)
        self.app.router.add_get("/metrics", self._metrics_view)
        for method, path, handler in routes:
            self.app.router.add_route(method, path, handler)
        self._runner: web.AppRunner | None = None

    async def _healthz(self, _request: web.Request) -> web.Response:
        report = await self._health()
        status = 200 if report.get("status") == "ok" else 503
        return web.json_response(report, status=status)

    async def _readyz(self, _request: web.Request) -> web.Response:
        report = await (self._ready or self._health)()
        return web.json_response(report, status=200 if report.get("status") in ("ok", "ready") else 503)

    async def _metrics_view(self, _request: web.Request) -> web.Response:
        values = self._metrics()
        if inspect.isawaitable(values):
            values = await values
        body = METRICS.exposition(values)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    async def start(self) -> int:
        """Start listening; returns the bound port (useful with port 0)."""
        quiet_protocol_errors()
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]
        log.info("http server on http://%s:%d (/healthz, /readyz, /metrics)", self.host, self.port)
        return self.port

    async def aclose(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

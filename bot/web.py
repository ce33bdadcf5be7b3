"""The bot's HTTP server: ``/healthz``, ``/metrics`` and, in Slack HTTP mode, ``/slack/events``.

Health and metrics come from callables the app provides, so this module knows no service.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

HealthCheck = Callable[[], Awaitable[dict[str, Any]]]
MetricsSource = Callable[[], dict[str, float]]
RouteDef = tuple[str, str, Callable[[web.Request], Awaitable[web.StreamResponse]]]


def render_metrics(values: dict[str, float]) -> str:
    """Prometheus text exposition of gauge/counter values named ``marketbot_*``."""
    lines: list[str] = []
    for name, value in sorted(values.items()):
        metric = name if name.startswith("marketbot_") else f"marketbot_{name}"
        base = metric.split("{", 1)[0]
        if not any(line.startswith(f"# TYPE {base} ") for line in lines):
            kind = "counter" if base.endswith("_total") else "gauge"
            lines.append(f"# TYPE {base} {kind}")
        lines.append(f"{metric} {value:g}")
    return "\n".join(lines) + "\n"


class WebServer:
    """aiohttp server bound to ``host:port``; start with ``start()``, stop with ``aclose()``."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        health: HealthCheck,
        metrics: MetricsSource,
        routes: Iterable[RouteDef] = (),
    ) -> None:
        self.host, self.port = host, port
        self._health, self._metrics = health, metrics
        self.app = web.Application(client_max_size=1024 * 1024)
        self.app.router.add_get("/healthz", self._healthz)
        self.app.router.add_get("/metrics", self._metrics_view)
        for method, path, handler in routes:
            self.app.router.add_route(method, path, handler)
        self._runner: web.AppRunner | None = None

    async def _healthz(self, _request: web.Request) -> web.Response:
        report = await self._health()
        status = 200 if report.get("status") == "ok" else 503
        return web.json_response(report, status=status)

    async def _metrics_view(self, _request: web.Request) -> web.Response:
        return web.Response(text=render_metrics(self._metrics()), content_type="text/plain", charset="utf-8")

    async def start(self) -> int:
        """Start listening; returns the bound port (useful with port 0)."""
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]
        log.info("http server on http://%s:%d (/healthz, /metrics)", self.host, self.port)
        return self.port

    async def aclose(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

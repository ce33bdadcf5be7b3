"""SEC's ``company_tickers.json`` on 127.0.0.1, served the way www.sec.gov serves it.

* ``GET /files/company_tickers.json``: the JSON object ``{"0": {"cik_str": 320193, "ticker":
  "AAPL", "title": "Apple Inc."}, ...}``, gzip-encoded when the client accepts it, with an
  ``ETag`` and a ``Last-Modified``; ``If-None-Match`` / ``If-Modified-Since`` get a 304.
* SEC's fair-access policy: a request whose User-Agent carries no e-mail address gets 403
  with SEC's "Undeclared Automated Tool" page; more than ``rate_limit`` requests a second
  get 429.
* Misbehaviour for tests: ``fail("500" | "429" | "garbage" | "html", times=None)``.

Data: ``tests/unit/rules/data/sec_company_tickers.json`` by default (an SEC-shaped file of
large, mid and small caps and ADRs), or ``set_rows(...)``.

In-process: ``async with SecFake() as fake: fake.url`` (the file's URL). Standalone:
``python -m tests.fakes.sec_server --port 8766``.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import hashlib
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from typing import Any

from aiohttp import web

DATA = Path(__file__).resolve().parents[1] / "unit" / "rules" / "data" / "sec_company_tickers.json"
PATH = "/files/company_tickers.json"
UNDECLARED = """<!DOCTYPE html><html><head><title>SEC.gov | Request Rate Threshold Exceeded</title></head>
<body><h1>Your Request Originates from an Undeclared Automated Tool</h1>
<p>To allow for equitable access to all users, SEC reserves the right to limit requests
originating from undeclared automated tools. Your request has been identified as part of a
network of automated tools outside of the acceptable policy and will be managed until action
is taken to declare your traffic.</p>
<p>Please declare your traffic by updating your user agent to include company specific
information.</p></body></html>"""
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass(frozen=True)
class Request:
    path: str
    user_agent: str
    if_none_match: str | None
    accept_encoding: str
    status: int


class SecFake:
    """The fake. ``async with SecFake() as fake: fake.url`` is the company list's URL."""

    def __init__(
        self, *, rows: Mapping[str, Any] | None = None, rate_limit: int = 10, host: str = "127.0.0.1"
    ) -> None:
        self.rate_limit = rate_limit
        self.requests: list[Request] = []
        self._failures: list[tuple[str, int | None]] = []
        self._host = host
        self._runner: web.AppRunner | None = None
        self._recent: list[float] = []
        self.base = ""
        self.url = ""
        self.set_rows(rows if rows is not None else json.loads(DATA.read_text(encoding="utf-8")))

    def set_rows(self, rows: Mapping[str, Any]) -> None:
        """Serve these rows from now on (a new ETag and Last-Modified)."""
        self._body = json.dumps(rows, separators=(",", ":")).encode()
        self.etag = '"' + hashlib.sha256(self._body).hexdigest()[:16] + '"'
        self.last_modified = formatdate(time.time(), usegmt=True)

    def fail(self, mode: str, times: int | None = None) -> None:
        """Misbehave: "500", "429", "garbage" (truncated JSON) or "html" (a page, not JSON)."""
        self._failures.append((mode, times))

    def clear_failures(self) -> None:
        self._failures.clear()

    @property
    def served(self) -> int:
        """Full 200 answers with the file."""
        return sum(1 for r in self.requests if r.status == 200)

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get(PATH, self._file)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://{self._host}:{port}"
        self.url = self.base + PATH
        return self.url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SecFake:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _record(self, request: web.Request, status: int) -> None:
        self.requests.append(
            Request(
                request.path,
                request.headers.get("User-Agent", ""),
                request.headers.get("If-None-Match"),
                request.headers.get("Accept-Encoding", ""),
                status,
            )
        )

    def _failure(self) -> str | None:
        if not self._failures:
            return None
        mode, times = self._failures[0]
        if times is not None:
            if times <= 1:
                self._failures.pop(0)
            else:
                self._failures[0] = (mode, times - 1)
        return mode

    async def _file(self, request: web.Request) -> web.StreamResponse:
        now = time.monotonic()
        self._recent = [t for t in self._recent if now - t < 1.0] + [now]
        if not _EMAIL.search(request.headers.get("User-Agent", "")):
            self._record(request, 403)
            return web.Response(status=403, text=UNDECLARED, content_type="text/html")
        if len(self._recent) > self.rate_limit:
            self._record(request, 429)
            return web.Response(status=429, text=UNDECLARED, content_type="text/html")
        mode = self._failure()
        if mode in ("500", "429"):
            self._record(request, int(mode))
            return web.Response(
                status=int(mode), text="<html><body>Error</body></html>", content_type="text/html"
            )
        if request.headers.get("If-None-Match") == self.etag or (
            "If-None-Match" not in request.headers
            and request.headers.get("If-Modified-Since") == self.last_modified
        ):
            self._record(request, 304)
            return web.Response(status=304, headers={"ETag": self.etag, "Last-Modified": self.last_modified})
        body = self._body
        if mode == "garbage":
            body = body[: len(body) // 2]
        elif mode == "html":
            body = b"<html><body>Maintenance</body></html>"
        headers = {"ETag": self.etag, "Last-Modified": self.last_modified, "Content-Type": "application/json"}
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        self._record(request, 200)
        return web.Response(status=200, body=body, headers=headers)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="A fake of SEC's company_tickers.json")
    ap.add_argument("--port", type=int, default=8766)
    args = ap.parse_args(argv)

    async def serve() -> None:
        fake = SecFake()
        app = web.Application()
        app.router.add_get(PATH, fake._file)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", args.port).start()
        print(f"SEC fake: http://127.0.0.1:{args.port}{PATH}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()

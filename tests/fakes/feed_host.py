"""A feed host on loopback (aiohttp) that serves any body with any headers and misbehaves on demand.

It speaks real HTTP: conditional GET (ETag / If-None-Match, Last-Modified / If-Modified-Since
answered with 304), gzip and deflate Content-Encoding, 500s, 429/503 with Retry-After,
slow drip, never-ending bodies, redirect loops, wrong charsets, entity bombs and huge bodies.
It can listen on many loopback addresses (127.0.0.2, 127.0.0.3, ...) on one port, so that
per-host limits act as they would on the internet.

    async with FeedHost() as host:
        url = host.serve("/feed.xml", rss([entry("Fed holds rates", "https://x.test/a")]), etag='"v1"')
"""

from __future__ import annotations

import asyncio
import email.utils
import gzip
import itertools
import socket
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Literal, Self
from xml.sax.saxutils import escape

from aiohttp import web

Behaviour = Literal["normal", "drip", "endless", "redirect", "redirect-loop", "huge", "reset"]


@dataclass
class Route:
    """What one path answers. Mutable: tests change it between polls."""

    body: bytes = b""
    status: int = 200
    content_type: str = "application/rss+xml; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    encoding: Literal["gzip", "deflate", "raw-deflate", "gzip-lie", None] = None
    delay: float = 0.0
    # requests wait until this event is set: a test releases several answers at the same moment
    hold: asyncio.Event | None = None
    behaviour: Behaviour = "normal"
    # errors: the next ``fail_times`` requests answer ``fail_status`` (-1: all of them)
    fail_status: int = 500
    fail_times: int = 0
    retry_after: str | None = None
    # drip / endless / huge
    drip_interval: float = 0.5
    drip_chunk: int = 16
    huge_bytes: int = 0
    send_length: bool = True
    # redirect
    location: str = ""


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """A request the host received (for assertions on conditional headers and User-Agent)."""

    host: str
    path: str
    headers: dict[str, str]
    at: datetime


def http_date(when: datetime) -> str:
    return email.utils.format_datetime(when.astimezone(UTC), usegmt=True)


class FeedHost:
    """An aiohttp server on one or more loopback addresses, all on the same port."""

    def __init__(self, addresses: Sequence[str] = ("127.0.0.1",), *, record: bool = True) -> None:
        if not addresses:
            raise ValueError("at least one address")
        self.addresses = tuple(addresses)
        self.port = 0
        self.routes: dict[str, Route] = {}
        self.requests: list[RecordedRequest] = []
        self.record = record
        self.hits: dict[str, int] = {}
        self.active: dict[str, int] = {}  # requests in progress per address
        self.peak: dict[str, int] = {}  # most requests ever in progress at once per address
        self.peak_total = 0
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
        await self._runner.setup()
        for address in self.addresses:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((address, self.port))  # port 0 the first time, then the same port everywhere
            self.port = sock.getsockname()[1]
            await web.SockSite(self._runner, sock, backlog=1024).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------ configuring routes

    def url(self, path: str, host: str | None = None) -> str:
        return f"http://{host or self.addresses[0]}:{self.port}{path}"

    def route(self, path: str) -> Route:
        return self.routes.setdefault(path, Route())

    def serve(self, path: str, body: bytes | str, *, host: str | None = None, **options: object) -> str:
        """Serve ``body`` at ``path`` (any Route option may be given); returns its URL."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.routes[path] = Route(body=data, **options)  # type: ignore[arg-type]
        return self.url(path, host)

    def update(self, path: str, **options: object) -> None:
        """Change options of an existing route (a new body, a new ETag, a failure...)."""
        route = self.routes[path]
        for key, value in options.items():
            if key == "body" and isinstance(value, str):
                value = value.encode("utf-8")
            setattr(route, key, value)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    # ------------------------------------------------------------ serving

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        addr = request.transport.get_extra_info("sockname")[0] if request.transport else "?"
        self.active[addr] = self.active.get(addr, 0) + 1
        self.peak[addr] = max(self.peak.get(addr, 0), self.active[addr])
        self.peak_total = max(self.peak_total, sum(self.active.values()))
        try:
            return await self._answer(request)
        finally:
            self.active[addr] -= 1

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.hits[path] = self.hits.get(path, 0) + 1
        if self.record:
            self.requests.append(
                RecordedRequest(
                    request.host.rsplit(":", 1)[0], path, dict(request.headers), datetime.now(UTC)
                )
            )
        route = self.routes.get(path)
        if route is None:
            return web.Response(status=404, text="not found")
        if route.delay:
            await asyncio.sleep(route.delay)  # noqa: TID251 - a slow server is the behaviour under test
        if route.hold is not None:
            await route.hold.wait()
        if route.fail_times:
            if route.fail_times > 0:
                route.fail_times -= 1
            headers = {"Retry-After": route.retry_after} if route.retry_after else {}
            return web.Response(status=route.fail_status, text="failure on demand", headers=headers)
        if route.behaviour == "reset":
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=500)
        if route.behaviour == "redirect":
            return web.Response(status=302, headers={"Location": route.location})
        if route.behaviour == "redirect-loop":
            n = int(request.query.get("n", "0"))
            return web.Response(status=302, headers={"Location": f"{path}?n={n + 1}"})
        if self._not_modified(request, route):
            headers = {"ETag": route.etag} if route.etag else {}
            return web.Response(status=304, headers=headers)
        headers = {"Content-Type": route.content_type, **route.headers}
        if route.etag:
            headers["ETag"] = route.etag
        if route.last_modified:
            headers["Last-Modified"] = route.last_modified
        if route.behaviour == "drip":
            return await self._drip(request, route, headers)
        if route.behaviour == "endless":
            return await self._endless(request, route, headers)
        if route.behaviour == "huge":
            return await self._huge(request, route, headers)
        body = route.body
        if route.encoding == "gzip":
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        elif route.encoding == "deflate":
            body = zlib.compress(body)
            headers["Content-Encoding"] = "deflate"
        elif route.encoding == "raw-deflate":
            c = zlib.compressobj(wbits=-zlib.MAX_WBITS)
            body = c.compress(body) + c.flush()
            headers["Content-Encoding"] = "deflate"
        elif route.encoding == "gzip-lie":  # labelled gzip, sent plain (a common server bug)
            headers["Content-Encoding"] = "gzip"
        return web.Response(status=route.status, body=body, headers=headers)

    @staticmethod
    def _not_modified(request: web.Request, route: Route) -> bool:
        inm = request.headers.get("If-None-Match")
        if route.etag and inm:
            return route.etag in [t.strip() for t in inm.split(",")] or inm.strip() == "*"
        ims = request.headers.get("If-Modified-Since")
        if route.last_modified and ims:
            try:
                return email.utils.parsedate_to_datetime(ims) >= email.utils.parsedate_to_datetime(
                    route.last_modified
                )
            except (TypeError, ValueError):
                return False
        return False

    async def _drip(self, request: web.Request, route: Route, headers: dict[str, str]) -> web.StreamResponse:
        resp = web.StreamResponse(status=route.status, headers=headers)
        resp.content_length = len(route.body)
        await resp.prepare(request)
        for i in range(0, len(route.body), route.drip_chunk):
            await resp.write(route.body[i : i + route.drip_chunk])
            await asyncio.sleep(route.drip_interval)  # noqa: TID251 - a dripping body is the behaviour under test
        await resp.write_eof()
        return resp

    async def _endless(
        self, request: web.Request, route: Route, headers: dict[str, str]
    ) -> web.StreamResponse:
        resp = web.StreamResponse(status=route.status, headers=headers)
        await resp.prepare(request)
        await resp.write(b'<?xml version="1.0"?><rss version="2.0"><channel><title>endless</title>')
        for n in itertools.count():
            chunk = f"<item><title>Item {n}</title><link>https://endless.test/{n}</link></item>".encode()
            await resp.write(chunk * 64)
            await asyncio.sleep(0)  # noqa: TID251 - one loop turn: the client can read and hang up
        return resp  # pragma: no cover - the client hangs up first

    async def _huge(self, request: web.Request, route: Route, headers: dict[str, str]) -> web.StreamResponse:
        resp = web.StreamResponse(status=route.status, headers=headers)
        if route.send_length:
            resp.content_length = route.huge_bytes
        await resp.prepare(request)
        block = b"<!-- " + b"x" * (65536 - 9) + b" -->"
        sent = 0
        while sent < route.huge_bytes:
            piece = block[: route.huge_bytes - sent]
            await resp.write(piece)
            sent += len(piece)
        await resp.write_eof()
        return resp


# ---------------------------------------------------------------- feed documents


@dataclass(frozen=True, slots=True)
class Entry:
    """One item of a generated feed."""

    title: str
    link: str = ""
    guid: str | None = None
    published: datetime | None = None
    description: str = ""
    updated: datetime | None = None


def entry(
    title: str,
    link: str = "",
    *,
    guid: str | None = None,
    published: datetime | None = None,
    description: str = "",
    updated: datetime | None = None,
) -> Entry:
    return Entry(title, link, guid, published, description, updated)


def rss(entries: Iterable[Entry], *, title: str = "Test feed", link: str = "https://feeds.test/") -> bytes:
    """An RSS 2.0 document (UTF-8) with the given entries."""
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>',
        f"<title>{escape(title)}</title><link>{escape(link)}</link><description>test</description>",
    ]
    for e in entries:
        parts.append("<item>")
        parts.append(f"<title>{escape(e.title)}</title>")
        if e.link:
            parts.append(f"<link>{escape(e.link)}</link>")
        if e.guid:
            parts.append(f'<guid isPermaLink="false">{escape(e.guid)}</guid>')
        if e.published:
            parts.append(f"<pubDate>{http_date(e.published)}</pubDate>")
        if e.updated:
            parts.append(
                f"<atom:updated xmlns:atom='http://www.w3.org/2005/Atom'>{e.updated.isoformat()}</atom:updated>"
            )
        if e.description:
            parts.append(f"<description>{escape(e.description)}</description>")
        parts.append("</item>")
    parts.append("</channel></rss>")
    return "".join(parts).encode("utf-8")


def atom(entries: Iterable[Entry], *, title: str = "Test feed", link: str = "https://feeds.test/") -> bytes:
    """An Atom 1.0 document (UTF-8) with the given entries."""
    now = datetime.now(UTC).isoformat()
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">',
        f'<title>{escape(title)}</title><link href="{escape(link)}"/><id>{escape(link)}</id><updated>{now}</updated>',
    ]
    for e in entries:
        parts.append("<entry>")
        parts.append(f"<title>{escape(e.title)}</title>")
        if e.link:
            parts.append(f'<link rel="alternate" href="{escape(e.link)}"/>')
        parts.append(f"<id>{escape(e.guid or e.link or e.title)}</id>")
        when = e.published or e.updated
        if e.published:
            parts.append(f"<published>{e.published.isoformat()}</published>")
        if when:
            parts.append(f"<updated>{(e.updated or when).isoformat()}</updated>")
        if e.description:
            parts.append(f'<summary type="html">{escape(e.description)}</summary>')
        parts.append("</entry>")
    parts.append("</feed>")
    return "".join(parts).encode("utf-8")


def entity_bomb(levels: int = 9, fanout: int = 10) -> bytes:
    """A "billion laughs" RSS document: one line of nested entity declarations."""
    decls = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * fanout}">' for i in range(1, levels + 1)
    )
    return (
        f'<?xml version="1.0"?><!DOCTYPE rss [{decls}]><rss version="2.0"><channel><title>bomb</title>'
        f"<item><title>Bomb &lol{levels};</title><link>https://bomb.test/1</link></item>"
        "<item><title>Entity bombs are neutralised before parsing</title><link>https://bomb.test/2</link></item>"
        "</channel></rss>"
    ).encode()

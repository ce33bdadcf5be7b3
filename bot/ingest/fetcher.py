"""Polite, bounded HTTP fetching of feeds (and articles) over one shared aiohttp session.

Conditional GET (ETag / If-Modified-Since), gzip and deflate, connect and total timeouts,
a streamed body-size cap, at most N redirects, a global and a per-host concurrency limit,
an honest User-Agent, and ``Retry-After`` reported back. ``fetch`` never raises for network
trouble: it returns a ``FetchResult`` whose ``error`` says what went wrong and whether
trying again can help. URLs that are not trusted (they came from chat) go through an SSRF
guard that checks the address actually connected to.
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import logging
import socket
import ssl
import time
import zlib
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp

import bot
from bot.config import IngestConfig
from bot.domain.lifecycle import Lifecycle
from bot.ingest.parser import BodyTooLarge, decompress

log = logging.getLogger(__name__)

PROJECT_URL = "https://github.com/marketbot/marketbot"
DEFAULT_USER_AGENT = f"marketbot/{bot.__version__} (+{PROJECT_URL})"
FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
)
HTML_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524})
MAX_RETRY_AFTER = 24 * 3600.0
_CHUNK = 1 << 16

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


# ---------------------------------------------------------------- SSRF guard


class BlockedAddress(OSError):
    """The SSRF guard refused to connect to an address (loopback, private, link-local, reserved)."""


@dataclass(slots=True)
class _GuardCall:
    """The guard in force for one untrusted request; records what it refused."""

    allow: tuple[IPNetwork, ...]
    blocked: list[str] = field(default_factory=list)


_GUARD: ContextVar[_GuardCall | None] = ContextVar("marketbot_ssrf_guard", default=None)


def is_public_address(address: str, allow: Iterable[IPNetwork] = ()) -> bool:
    """True when ``address`` is a globally routable unicast IP (or inside an allowed network)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in net for net in allow):
        return True
    return ip.is_global and not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
    )


def _guarded_socket(addr_info: tuple[Any, ...]) -> socket.socket:
    """aiohttp's socket factory: refuses non-public addresses while an untrusted request is running.

    It runs just before ``connect()`` with the exact address, so DNS rebinding (a name that
    resolves to a public address when checked and a private one when used) cannot get past.
    """
    family, type_, proto, _, sockaddr = addr_info
    call = _GUARD.get()
    if call is not None:
        host = str(sockaddr[0])
        if not is_public_address(host, call.allow):
            call.blocked.append(host)
            raise BlockedAddress(f"refusing to connect to non-public address {host}")
    return socket.socket(family=family, type=type_, proto=proto)


# ---------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class FetchResult:
    """The outcome of one GET: a body (200), not modified (304), or an error.

    ``status`` is the HTTP status, 0 when no response arrived. ``retryable`` says whether the
    same request may succeed later (a timeout, a 503); ``permanent`` that it cannot without a
    change on someone's side (410 Gone, a blocked address, an invalid URL).
    """

    url: str
    final_url: str
    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    retry_after: float | None = None
    error: str | None = None
    retryable: bool = True
    permanent: bool = False
    elapsed: float = 0.0
    redirects: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def not_modified(self) -> bool:
        return self.status == 304 and self.error is None


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date), capped at a day."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(delta, 0.0), MAX_RETRY_AFTER)


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB" if n >= 1024 * 1024 else f"{n // 1024} KB"


# ---------------------------------------------------------------- fetcher


class Fetcher(Lifecycle):
    """One shared aiohttp session with global and per-host limits; use as an async context manager.

    ``allow_networks`` exempts addresses from the SSRF guard (tests serve untrusted feeds
    from 127.0.0.x); it is empty in production.
    """

    def __init__(
        self,
        config: IngestConfig | None = None,
        *,
        user_agent: str | None = None,
        allow_networks: Iterable[str | IPNetwork] = (),
        resolver: aiohttp.abc.AbstractResolver | None = None,
    ) -> None:
        self.config = config or IngestConfig()
        self.user_agent = user_agent or self.config.user_agent or DEFAULT_USER_AGENT
        self.allow_networks = tuple(ipaddress.ip_network(n, strict=False) for n in allow_networks)
        self._resolver = resolver
        self._session: aiohttp.ClientSession | None = None
        self._global = asyncio.Semaphore(self.config.global_limit)
        self._hosts: dict[str, asyncio.Semaphore] = {}
        # A distinct SSL object for guarded requests: aiohttp keys its connection pool on it,
        # so an untrusted request never reuses a connection a trusted one opened.
        self._guarded_ssl = ssl.create_default_context()

    async def start(self) -> None:
        """Open the shared session (idempotent)."""
        if self._session is not None:
            return
        connector = aiohttp.TCPConnector(
            limit=self.config.global_limit,
            limit_per_host=self.config.per_host_limit,
            ttl_dns_cache=300,
            resolver=self._resolver,
            socket_factory=_guarded_socket,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(
                total=None,
                connect=self.config.connect_timeout,
                sock_connect=self.config.connect_timeout,
            ),
            headers={"User-Agent": self.user_agent, "Accept-Encoding": "gzip, deflate"},
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
        )

    async def aclose(self) -> None:
        """Close the session and its connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _host_limit(self, host: str) -> asyncio.Semaphore:
        sem = self._hosts.get(host)
        if sem is None:
            sem = self._hosts[host] = asyncio.Semaphore(self.config.per_host_limit)
        return sem

    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        trusted: bool = True,
        accept: str = FEED_ACCEPT,
        max_bytes: int | None = None,
    ) -> FetchResult:
        """GET ``url`` conditionally; waits for a global and a per-host slot first.

        The total timeout starts once both slots are held, so a queue never eats a feed's
        time, and a slow-dripping server costs only its own feed the timeout.
        """
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower()
        except ValueError:
            return FetchResult(url, url, 0, error=f"invalid URL {url!r}", retryable=False, permanent=True)
        if parts.scheme.lower() not in ("http", "https") or not host:
            return FetchResult(
                url,
                url,
                0,
                error="only http:// and https:// URLs can be fetched",
                retryable=False,
                permanent=True,
            )
        async with self._global, self._host_limit(host):
            return await self._fetch(
                url,
                etag=etag,
                last_modified=last_modified,
                trusted=trusted,
                accept=accept,
                max_bytes=max_bytes or self.config.max_body_bytes,
            )

    async def _fetch(
        self,
        url: str,
        *,
        etag: str | None,
        last_modified: str | None,
        trusted: bool,
        accept: str,
        max_bytes: int,
    ) -> FetchResult:
        if self._session is None:
            await self.start()
        assert self._session is not None
        headers = {"Accept": accept}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        call = None if trusted else _GuardCall(self.allow_networks)
        token = _GUARD.set(call)
        started = time.monotonic()
        permanent = False
        final_url = url
        status = 0
        redirects = 0
        try:
            async with asyncio.timeout(self.config.total_timeout):
                async with self._session.get(
                    url,
                    headers=headers,
                    allow_redirects=True,
                    max_redirects=self.config.max_redirects + 1,  # aiohttp counts the last one as too many
                    ssl=True if trusted else self._guarded_ssl,
                ) as resp:
                    final_url = str(resp.url)
                    status = resp.status
                    redirects = len(resp.history)
                    resp_headers = {k.lower(): v for k, v in resp.headers.items()}
                    # a 304 may omit validators (keep ours); a 200 replaces them (or drops them)
                    new_etag = resp.headers.get("ETag") or (etag if status == 304 else None)
                    new_modified = resp.headers.get("Last-Modified") or (
                        last_modified if status == 304 else None
                    )
                    elapsed = time.monotonic() - started
                    if status == 304:
                        return FetchResult(
                            url, final_url, 304, headers=resp_headers, etag=new_etag,
                            last_modified=new_modified, elapsed=elapsed, redirects=redirects,
                        )  # fmt: skip
                    if not 200 <= status < 300:
                        retry_after = (
                            parse_retry_after(resp.headers.get("Retry-After"))
                            if status in (429, 503)
                            else None
                        )
                        reason = resp.reason or ""
                        return FetchResult(
                            url, final_url, status, headers=resp_headers, etag=etag, last_modified=last_modified,
                            retry_after=retry_after, error=f"HTTP {status} {reason}".strip(),
                            retryable=status in RETRYABLE_STATUS, permanent=status == 410,
                            elapsed=elapsed, redirects=redirects,
                        )  # fmt: skip
                    length = resp.content_length
                    if length is not None and length > max_bytes:
                        return FetchResult(
                            url, final_url, status, headers=resp_headers,
                            error=f"body is {_megabytes(length)}, over the {_megabytes(max_bytes)} limit",
                            retryable=False, elapsed=elapsed, redirects=redirects,
                        )  # fmt: skip
                    raw = bytearray()
                    async for chunk in resp.content.iter_chunked(_CHUNK):
                        raw += chunk
                        if len(raw) > max_bytes:
                            raise BodyTooLarge(f"body is over the {_megabytes(max_bytes)} limit")
                    body = decompress(bytes(raw), resp.headers.get("Content-Encoding", ""), limit=max_bytes)
                    return FetchResult(
                        url, final_url, status, body=body, headers=resp_headers, etag=new_etag,
                        last_modified=new_modified, elapsed=time.monotonic() - started, redirects=redirects,
                    )  # fmt: skip
        except TimeoutError:
            phase = "reading the body" if status else "waiting for a response"
            error, retryable = f"timed out after {self.config.total_timeout:g}s {phase}", True
        except BodyTooLarge as exc:
            error, retryable = str(exc), False
        except zlib.error as exc:
            error, retryable = f"corrupt compressed body ({exc})", True
        except aiohttp.TooManyRedirects:
            error, retryable = f"more than {self.config.max_redirects} redirects", False
            redirects = self.config.max_redirects + 1
        except aiohttp.InvalidURL as exc:
            error, retryable, permanent = f"invalid URL {exc}", False, True
        except aiohttp.ClientConnectorCertificateError as exc:
            error, retryable = f"TLS certificate not accepted: {exc.certificate_error}", False
        except aiohttp.ClientConnectorError as exc:
            if call is not None and call.blocked:
                error = f"blocked: {call.blocked[0]} is not a public address (feeds added from chat must be public)"
                retryable, permanent = False, True
            else:
                error, retryable = f"cannot connect: {exc.os_error.strerror or exc.os_error}", True
        except aiohttp.ClientResponseError as exc:
            error, retryable = f"bad response: {exc.message}", True
        except aiohttp.ClientPayloadError as exc:
            error, retryable = f"body ended early: {exc}", True
        except (aiohttp.ClientError, OSError) as exc:
            if call is not None and call.blocked:
                error, retryable, permanent = f"blocked: non-public address {call.blocked[0]}", False, True
            else:
                error, retryable = f"{type(exc).__name__}: {exc}", True
        finally:
            _GUARD.reset(token)
        return FetchResult(
            url, final_url, status, error=error, retryable=retryable, permanent=permanent,
            elapsed=time.monotonic() - started, redirects=redirects,
        )  # fmt: skip

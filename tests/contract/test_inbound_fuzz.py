"""Hostile requests against the bot's HTTP server and Slack HTTP mode: never a 5xx, never a traceback.

A seeded generator (reproducible: the seed is in the test) throws a few thousand malformed
bodies and headers at ``/slack/events``, ``/healthz`` and ``/metrics`` on the real aiohttp
server with the real slack_bolt behind it, plus raw garbage on the socket. Unsigned requests
must be refused (401) without being parsed, signed malformed ones answered 400, oversized ones
413; nothing may be logged with a traceback, and a properly signed slash command still works
afterwards.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import random
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any, Literal
from urllib.parse import urlencode

import aiohttp
import pytest

from bot.chat.slack_app import SlackAdapter
from bot.chat.slack_http import MAX_BODY_BYTES
from bot.domain.models import CommandContext, Reply
from bot.ports import CommandName
from bot.web import MAX_BODY_BYTES as WEB_MAX_BODY
from bot.web import WebServer
from tests.fakes.slack import FakeSlack

SEED = 20261125
ROUNDS = 3000


class Commands:
    def __init__(self) -> None:
        self.calls: list[tuple[CommandName, str]] = []

    async def handle(self, ctx: CommandContext, command: CommandName, text: str) -> Reply:
        self.calls.append((command, text))
        return Reply(text=f"{command}: {text}")

    async def complete(
        self, ctx: CommandContext, kind: Literal["watchlist", "ticker"], prefix: str
    ) -> list[str]:
        return []


async def _health() -> dict[str, Any]:
    return {"status": "ok", "checks": {}}


class Server:
    def __init__(self, base: str, fake: FakeSlack, commands: Commands) -> None:
        self.base, self.fake, self.commands = base, fake, commands

    @property
    def events(self) -> str:
        return self.base + "/slack/events"


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    commands = Commands()
    async with FakeSlack() as fake:
        adapter = SlackAdapter(
            bot_token=fake.bot_token,
            signing_secret=fake.signing_secret,
            api_url=fake.api_url,
            commands=commands,
        )
        async with adapter:
            web = WebServer(
                host="127.0.0.1", port=0, health=_health, metrics=dict, routes=adapter.web_routes()
            )
            port = await web.start()
            try:
                yield Server(f"http://127.0.0.1:{port}", fake, commands)
            finally:
                await web.aclose()


def sign(secret: str, body: bytes, ts: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if ts is None else ts)
    digest = hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}


FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
CONTENT_TYPES = [
    FORM,
    JSON,
    "text/plain",
    "multipart/form-data; boundary=xyz",
    "application/octet-stream",
    "application/json; charset=latin-1",
    "",
    "x/y",
    "application/x-www-form-urlencoded; charset=utf-16",
]


def malformed_bodies(rng: random.Random) -> list[tuple[str, bytes]]:
    """Bodies that are not what Slack sends: (name, bytes)."""
    junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
    deep = "[" * rng.randrange(500, 3000) + "]" * 10
    return [
        ("invalid utf-8", b"command=%2Fwatch&text=\xff\xfe\xc3\x28"),
        ("random bytes", junk),
        ("broken payload json", b"payload=%7B%22type%22%3A"),
        ("payload not an object", b"payload=" + urlencode({"x": "[1,2,3]"}).encode()[2:]),
        ("payload is a string", b"payload=%22hello%22"),
        ("json array", b'[{"type": "url_verification"}]'),
        ("json scalar", b"42"),
        ("json null", b"null"),
        ("deep nesting", deep.encode()),
        ("truncated json", b'{"type": "event_callback", "event": {'),
        ("nul bytes", b"\x00" * rng.randrange(1, 64)),
        ("percent garbage", b"%%%%%zz&&&==&=%C3"),
        ("bad percent utf-8", b"payload=%ff%fe"),
        ("many fields", "&".join(f"f{i}=v" for i in range(rng.randrange(250, 400))).encode()),
    ]


def weird_objects(rng: random.Random) -> list[bytes]:
    """Well-formed JSON objects of shapes Slack never sends (signed: they reach bolt)."""
    values: list[Any] = [None, 0, -1, 1.5, True, "", "x" * 50, [], {}, [1, {"a": None}], {"id": []}]
    keys = ["type", "team", "team_id", "user", "channel", "event", "command", "actions", "view", "enterprise"]
    out = []
    for _ in range(6):
        obj = {k: rng.choice(values) for k in rng.sample(keys, rng.randrange(1, len(keys)))}
        if obj.get("command") in ("/quote", "/news", "/watch"):
            obj["command"] = 7
        out.append(json.dumps(obj).encode())
    return out


async def _post(
    http: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]
) -> tuple[int, str]:
    async with http.post(url, data=body, headers=headers, allow_redirects=False) as resp:
        return resp.status, await resp.text()


async def test_thousands_of_malformed_requests_get_4xx_and_no_traceback(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    rng = random.Random(SEED)
    secret = server.fake.signing_secret
    statuses: Counter[tuple[str, int]] = Counter()
    async with aiohttp.ClientSession(skip_auto_headers=["Content-Type"]) as http:
        for n in range(ROUNDS):
            bodies = malformed_bodies(rng)
            name, body = rng.choice(bodies)
            ctype = rng.choice(CONTENT_TYPES)
            kind = rng.choice(
                [
                    "unsigned",
                    "bad-signature",
                    "wrong-secret",
                    "stale",
                    "future",
                    "bad-stamp",
                    "signed",
                    "weird",
                ]
            )
            headers: dict[str, str] = {"Content-Type": ctype} if ctype else {}
            if kind == "bad-signature":
                headers |= sign(secret, body)
                headers["X-Slack-Signature"] = rng.choice(
                    ["v0=", "v0=" + "0" * 64, "v1=" + "a" * 64, "garbage", "v0=" + "G" * 64, "v0=" + "a" * 63]
                )
            elif kind == "wrong-secret":
                headers |= sign("not-the-secret", body)
            elif kind == "stale":
                headers |= sign(secret, body, ts=int(time.time()) - rng.randrange(301, 10**7))
            elif kind == "future":
                headers |= sign(secret, body, ts=int(time.time()) + rng.randrange(301, 10**7))
            elif kind == "bad-stamp":
                headers |= sign(secret, body)
                headers["X-Slack-Request-Timestamp"] = rng.choice(
                    ["", "-5", "1e9", "12345678901234567890", "now", " 1 2 ", "0x10"]
                )
            elif kind == "signed":
                headers |= sign(secret, body)
            elif kind == "weird":
                body = rng.choice(weird_objects(rng))
                headers = {"Content-Type": JSON, **sign(secret, body)}
            status, _text = await _post(http, server.events, body, headers)
            statuses[(kind, status)] += 1
            assert status < 500, (n, kind, name, ctype, status)
            if kind in ("unsigned", "bad-signature", "wrong-secret", "stale", "future", "bad-stamp"):
                assert status == 401, (n, kind, name, status)
            elif kind == "signed":
                assert status == 400, (n, kind, name, ctype, status)  # signed, but not what Slack sends

            if n % 100 == 0:  # the other endpoints, with the same junk
                for path in ("/healthz", "/metrics", "/nowhere", "/slack/events/../healthz"):
                    async with http.request(
                        rng.choice(["GET", "POST", "PUT", "DELETE", "PATCH"]),
                        server.base + path + rng.choice(["", "?a=%ff", "?" + "x" * 2000]),
                        data=body,
                        headers=headers,
                    ) as resp:
                        assert resp.status < 500, (path, resp.status)

        # oversized bodies: refused with 413 before being read (announced or chunked)
        huge = b"a=" + b"x" * (MAX_BODY_BYTES + 10)
        for headers in ({"Content-Type": FORM}, {"Content-Type": FORM, **sign(secret, huge)}):
            assert (await _post(http, server.events, huge, headers))[0] == 413

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(MAX_BODY_BYTES // 65536 + 4):
                yield b"y" * 65536

        async with http.post(server.events, data=chunks(), headers={"Content-Type": FORM}) as resp:
            assert resp.status == 413
        async with http.get(server.base + "/healthz", data=b"z" * (WEB_MAX_BODY + 1)) as resp:
            assert resp.status == 413  # announced too large: refused before anything reads it

    assert statuses  # every kind was exercised
    assert {k for k, _ in statuses} >= {"unsigned", "signed", "weird", "stale"}
    assert server.commands.calls == []  # nothing ran
    _no_tracebacks(caplog)

    # a real, properly signed slash command still works
    result = await server.fake.slash_command("/quote", "AMZN", request_url=server.events)
    assert result.http_status == 200 and result.user_error is None
    [answer] = await result.wait_responses(1)
    assert answer.visible == "quote: AMZN"
    assert server.commands.calls == [("quote", "AMZN")]


async def test_the_named_cases_from_the_report(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    """Invalid UTF-8, broken payload JSON and a JSON array: 401 unsigned, 400 signed, no traceback."""
    caplog.set_level(logging.DEBUG)
    secret = server.fake.signing_secret
    cases = [
        (FORM, b"command=%2Fwatch&text=\xff\xfe"),
        (FORM, b"payload=%7Bbroken"),
        (JSON, b"[1, 2, 3]"),
        (JSON, b"\xef\xbb\xbf{}"),  # a byte-order mark is not JSON
    ]
    async with aiohttp.ClientSession() as http:
        for ctype, body in cases:
            assert (await _post(http, server.events, body, {"Content-Type": ctype}))[0] == 401
            assert (await _post(http, server.events, body, {"Content-Type": ctype, **sign(secret, body)}))[
                0
            ] == 400
        # Slack's own url_verification handshake (Events API) is answered
        challenge = json.dumps({"type": "url_verification", "challenge": "abc123", "token": "t"}).encode()
        status, text = await _post(
            http, server.events, challenge, {"Content-Type": JSON, **sign(secret, challenge)}
        )
        assert status == 200 and "abc123" in text
    _no_tracebacks(caplog)


async def test_a_command_whose_text_says_payload_is_answered(server: Server) -> None:
    """bolt's own parser drops a form that merely contains the word "payload"; ours does not."""
    result = await server.fake.slash_command("/news", "payload", request_url=server.events)
    assert result.http_status == 200
    [answer] = await result.wait_responses(1)
    assert answer.visible == "news: payload"


async def test_garbage_on_the_socket_is_a_400_without_a_traceback(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    host, port = server.base.removeprefix("http://").split(":")
    rng = random.Random(SEED + 1)
    raw = [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(40),  # a TLS ClientHello
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
        b"POST /slack/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 20000 + b"\r\n\r\n",
        b"GET /" + b"a" * 10000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\x00\x01: \x02\r\n\r\n",
    ]
    raw += [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))) for _ in range(40)]
    for data in raw:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            writer.write(data)
            await writer.drain()
            with __import__("contextlib").suppress(ConnectionError):
                async with asyncio.timeout(10):
                    head = await reader.read(64)
            if head:
                status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.") else 0
                assert status < 500, (data[:60], head)
        finally:
            writer.close()
            with __import__("contextlib").suppress(ConnectionError):
                await writer.wait_closed()
    _no_tracebacks(caplog)
    async with aiohttp.ClientSession() as http, http.get(server.base + "/healthz") as resp:
        assert resp.status == 200


def _no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    bad = [r for r in caplog.records if r.exc_info or r.exc_text or r.levelno >= logging.ERROR]
    assert bad == [], [f"{r.name}: {r.getMessage()}" for r in bad[:5]]
    assert "Traceback" not in caplog.text

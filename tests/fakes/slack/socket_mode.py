"""Socket Mode: the websocket, hello, envelopes, acks and dropped sockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Awaitable
from typing import Any, Literal

import aiohttp
from aiohttp import web

from tests.fakes.slack.state import (
    EnvelopeResult,
    SocketConnection,
)
from tests.support.wait import WAIT_TIMEOUT


class SocketMode:
    """Socket Mode: the websocket, hello, envelopes, acks and dropped sockets (a part of ``FakeSlack``)."""

    # ------------------------------------------------------------ Socket Mode

    @property
    def live_connections(self) -> list[SocketConnection]:
        return [c for c in self.connections if not c.closed and c.hello_sent]

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        issued = self._tickets.pop(ticket, None)  # single use
        if self.ws_outage:
            self.socket_refusals.append("outage")
            self._touch()
            return web.Response(status=503, text="Service Unavailable")
        if issued is None or time.monotonic() - issued > 30:
            self.socket_refusals.append("bad_ticket")
            self._touch()
            return web.Response(status=401, text="invalid or expired ticket")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = SocketConnection(next(self._conn_ids), ws, request, time.monotonic())
        self.connections.append(conn)
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": len([c for c in self.connections if not c.closed]),
                "debug_info": {
                    "host": f"applink-fake-{conn.id}",
                    "build_number": 105,
                    "approximate_connection_time": 18060,
                },
                "connection_info": {"app_id": self.app_id},
            }
        )
        conn.hello_sent = True
        self._touch()
        try:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    try:
                        data = json.loads(msg.data)
                    except ValueError:
                        continue
                    conn.received.append(data)
                    fut = self._pending_acks.get(str(data.get("envelope_id")))
                    if fut is not None and not fut.done():
                        fut.set_result(data)
                    self._touch()
        finally:
            conn.closed = True
            self._touch()
        return ws

    async def wait_connected(self, *, newer_than: int = 0, timeout: float = WAIT_TIMEOUT) -> SocketConnection:
        """Wait for a live connection (hello sent) whose id is greater than ``newer_than``."""

        def found() -> SocketConnection | None:
            return next((c for c in reversed(self.live_connections) if c.id > newer_than), None)

        conn: SocketConnection = await self.wait_for(
            found, timeout=timeout, what=f"a live Socket Mode connection newer than #{newer_than}"
        )
        return conn

    def _pick_connection(self) -> SocketConnection | None:
        live = self.live_connections
        return live[-1] if live else None

    async def send_envelope(
        self,
        kind: Literal["slash_commands", "interactive", "events_api"],
        payload: dict[str, Any],
        *,
        deadline: float | None = None,
        retry_attempt: int = 0,
    ) -> EnvelopeResult:
        """Deliver an envelope on a live connection and wait for its ack (up to ``deadline``)."""
        conn = self._pick_connection()
        envelope_id = str(uuid.uuid4())
        if conn is None:
            return EnvelopeResult(envelope_id, False, None, None)
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "payload": payload,
            "type": kind,
            "accepts_response_payload": kind != "events_api",
        }
        if kind == "events_api":
            envelope["retry_attempt"] = retry_attempt
            envelope["retry_reason"] = "" if retry_attempt == 0 else "timeout"
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending_acks[envelope_id] = fut
        started = time.monotonic()
        try:
            await conn.ws.send_json(envelope)
            async with asyncio.timeout(self.ack_deadline if deadline is None else deadline):
                ack = await fut
        except (TimeoutError, ConnectionError, RuntimeError):
            return EnvelopeResult(envelope_id, False, None, None)
        finally:
            self._pending_acks.pop(envelope_id, None)
        return EnvelopeResult(envelope_id, True, time.monotonic() - started, ack.get("payload"))

    async def send_disconnect(
        self, reason: str = "refresh_requested", *, close_after: float | None = None
    ) -> None:
        """Send Slack's ``disconnect`` envelope to every live connection; close them later if asked."""
        for conn in self.live_connections:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await conn.ws.send_json(
                    {
                        "type": "disconnect",
                        "reason": reason,
                        "debug_info": {"host": f"applink-fake-{conn.id}"},
                    }
                )
            if close_after is not None:
                self._spawn(self._close_later(conn, close_after))

    async def _close_later(self, conn: SocketConnection, delay: float) -> None:
        await asyncio.sleep(delay)  # noqa: TID251 - Slack closing the old socket later, as it does
        if not conn.closed:
            await conn.ws.close(code=aiohttp.WSCloseCode.GOING_AWAY)

    async def close_connections(self) -> None:
        """Close every connection cleanly (a close frame), as Slack does on a refresh."""
        for conn in self.live_connections:
            await conn.ws.close(code=aiohttp.WSCloseCode.GOING_AWAY)

    def drop_connections(self) -> None:
        """Drop every connection without a close frame (a network failure)."""
        for conn in self.live_connections:
            conn.closed = True
            transport = conn.request.transport
            if transport is not None:
                transport.abort()
        self._touch()

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

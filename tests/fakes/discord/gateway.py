"""The gateway websocket: hello, identify, resume, heartbeats and dispatches."""

from __future__ import annotations

import json
import secrets
import time
import zlib
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.discord.limits import (
    INTENT_GUILDS,
    PRIVILEGED_INTENTS,
)
from tests.fakes.discord.state import (
    GatewayConnection,
    GatewaySession,
)


class Gateway:
    """The gateway websocket: hello, identify, resume, heartbeats and dispatches (a part of ``DiscordFake``)."""

    # ------------------------------------------------------------ gateway

    async def _send(self, conn: GatewayConnection, payload: dict[str, Any]) -> None:
        if conn.ws.closed:
            return
        text = json.dumps(payload)
        if conn.compressed:
            # zlib-stream: one deflate context per connection, each message ends with Z_SYNC_FLUSH
            data = conn.compressor.compress(text.encode()) + conn.compressor.flush(zlib.Z_SYNC_FLUSH)
            await conn.ws.send_bytes(data)
        else:
            await conn.ws.send_str(text)

    async def _close(self, conn: GatewayConnection, code: int, reason: bytes) -> None:
        """Close a gateway connection with a Discord close code (recorded for tests)."""
        conn.close_code, conn.closed_by_server = code, True
        await conn.ws.close(code=code, message=reason)
        await self._notify()

    async def _send_dispatch(self, session: GatewaySession, event: str, data: dict[str, Any]) -> None:
        session.seq += 1
        payload = {"op": 0, "t": event, "s": session.seq, "d": data}
        session.events.append(payload)
        conn = next((c for c in reversed(self.connections) if c.session is session and not c.ws.closed), None)
        if conn is not None:
            await self._send(conn, payload)

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        query = dict(request.query)
        compress = query.get("compress")
        conn = GatewayConnection(path=request.path, query=query, compressed=compress == "zlib-stream", ws=ws)
        if conn.compressed:
            conn.compressor = zlib.compressobj()
        self.connections.append(conn)
        await self._notify()
        try:
            if query.get("v") != "10":
                await self._close(conn, 4012, b"Invalid API version")
                return ws
            if query.get("encoding", "json") != "json":
                await self._close(conn, 4002, b"Decode error")
                return ws
            if compress not in (None, "zlib-stream"):
                await self._close(conn, 4000, b"Unsupported compression")
                return ws
            await self._send(
                conn,
                {"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms}, "s": None, "t": None},
            )
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    if msg.type == WSMsgType.BINARY:
                        await self._close(conn, 4002, b"Decode error")
                    break
                try:
                    frame = json.loads(msg.data)
                except ValueError:
                    await self._close(conn, 4002, b"Decode error")
                    break
                conn.received.append(frame)
                await self._gateway_op(conn, frame)
                await self._notify()
        finally:
            if conn.close_code is None:
                conn.close_code = ws.close_code
            if not conn.closed_by_server and conn.close_code in (1000, 1001) and conn.session is not None:
                conn.session.resumable = False  # Discord: a client's 1000/1001 close ends the session
            await self._notify()
        return ws

    async def _gateway_op(self, conn: GatewayConnection, frame: dict[str, Any]) -> None:
        op, d = frame.get("op"), frame.get("d")
        if op == 1:
            conn.heartbeats += 1
            await self._send(conn, {"op": 11, "d": None})
            return
        if op == 2:
            if conn.identified:
                await self._close(conn, 4005, b"Already authenticated")
                return
            if not isinstance(d, dict) or d.get("token") != self.token:
                await self._close(conn, 4004, b"Authentication failed")
                return
            intents = int(d.get("intents", 0))
            if any(bit & intents and not bit & self.privileged_intents for bit in PRIVILEGED_INTENTS):
                await self._close(conn, 4014, b"Disallowed intent(s)")
                return
            self.identify_count += 1
            session = GatewaySession(id=secrets.token_hex(16), intents=intents)
            self.sessions[session.id] = session
            conn.session, conn.identified = session, True
            conn.identified_at = time.monotonic()
            ready = {
                "v": 10,
                "user": {**self.bot.payload(), "verified": True, "mfa_enabled": False},
                "guilds": [{"id": str(g), "unavailable": True} for g in self.guilds],
                "session_id": session.id,
                "resume_gateway_url": f"ws://127.0.0.1:{self.port}/gateway-resume",
                "session_type": "normal",
                "application": {"id": str(self.application_id), "flags": 0},
                "private_channels": [],
                "relationships": [],
                "presences": [],
                "guild_join_requests": [],
                "geo_ordered_rtc_regions": [],
                "user_settings": {},
                "auth": {},
                "_trace": ["fake-discord"],
            }
            await self._send_dispatch(session, "READY", ready)
            if intents & INTENT_GUILDS:
                for g in self.guilds.values():
                    await self._send_dispatch(session, "GUILD_CREATE", g.payload())
            return
        if op == 6:
            if not isinstance(d, dict) or d.get("token") != self.token:
                await self._close(conn, 4004, b"Authentication failed")
                return
            session = self.sessions.get(str(d.get("session_id")))
            if session is None or not session.resumable:
                await self._send(conn, {"op": 9, "d": False})
                return
            self.resume_count += 1
            conn.session, conn.identified, conn.resumed = session, True, True
            seq = int(d.get("seq") or 0)
            for event in session.events:
                if event["s"] > seq:
                    await self._send(conn, event)
            await self._send_dispatch(session, "RESUMED", {"_trace": ["fake-discord"]})
            return
        if op in (3, 4, 8, 31):
            if not conn.identified:
                await self._close(conn, 4003, b"Not authenticated")
            return
        await self._close(conn, 4001, b"Unknown opcode")

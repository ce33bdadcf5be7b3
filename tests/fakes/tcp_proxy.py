"""A TCP proxy on loopback that a test can cut and restore: a database server that goes away.

    async with TcpProxy("127.0.0.1", 5432) as proxy:
        url = proxy.database_url("postgresql+asyncpg://postgres@127.0.0.1:5432/test")
        ...
        await proxy.cut()      # every open connection is dropped, new ones are refused
        proxy.restore()        # connections go through again

Cutting drops the connections the way a restarted server or a broken network does (the
client sees its socket closed mid-query), without disturbing the real server that other
tests share.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from typing import Self


class TcpProxy:
    """Forwards 127.0.0.1:<port> to ``target``; ``cut()`` and ``restore()`` switch it off and on."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self.accepted = 0
        self.refused = 0
        self._cut = False
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def database_url(self, url: str) -> str:
        """``url`` pointed at the proxy instead of the server."""
        from sqlalchemy.engine import make_url

        return make_url(url).set(host="127.0.0.1", port=self.port).render_as_string(hide_password=False)

    @property
    def is_cut(self) -> bool:
        return self._cut

    async def cut(self) -> None:
        """Drop every connection now and refuse new ones until ``restore()``."""
        self._cut = True
        for writer in list(self._writers):
            writer.transport.abort()
        pipes = list(self._pipes)
        for task in pipes:
            task.cancel()
        if pipes:
            await asyncio.gather(*pipes, return_exceptions=True)

    def restore(self) -> None:
        self._cut = False

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if self._cut:
            self.refused += 1
            client_w.transport.abort()
            return
        try:
            server_r, server_w = await asyncio.open_connection(*self.target)
        except OSError:
            client_w.transport.abort()
            return
        self.accepted += 1
        self._writers |= {client_w, server_w}
        pipes = [
            asyncio.create_task(self._pipe(client_r, server_w)),
            asyncio.create_task(self._pipe(server_r, client_w)),
        ]
        self._pipes.update(pipes)
        try:
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in pipes:
                task.cancel()
                self._pipes.discard(task)
            for writer in (client_w, server_w):
                self._writers.discard(writer)
                writer.transport.abort()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()

"""A DNS resolver for tests of the fetcher's address checks."""

from __future__ import annotations

import socket
from typing import Any

import aiohttp


class FixedResolver(aiohttp.abc.AbstractResolver):
    """A DNS resolver that answers one fixed address for every name (like a rebinding attacker)."""

    def __init__(self, address: str) -> None:
        self.address = address

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[Any]:
        return [
            {
                "hostname": host,
                "host": self.address,
                "port": port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": 0,
            }
        ]

    async def close(self) -> None:
        return None

"""DNS resolvers for tests of the fetcher's address checks: a hosts table, or one fixed address."""

from __future__ import annotations

import socket
from typing import Any

import aiohttp


class HostsResolver(aiohttp.abc.AbstractResolver):
    """DNS from a fixed hosts table (names not in it do not exist)."""

    def __init__(self, table: dict[str, str]) -> None:
        self.table = table

    def address(self, host: str) -> str:
        if host not in self.table:
            raise OSError(f"{host} does not resolve")
        return self.table[host]

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[Any]:
        return [
            {
                "hostname": host,
                "host": self.address(host),
                "port": port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": 0,
            }
        ]

    async def close(self) -> None:
        return None


class FixedResolver(HostsResolver):
    """Every name resolves to one fixed address (like a rebinding attacker)."""

    def __init__(self, address: str) -> None:
        super().__init__({})
        self.fixed = address

    def address(self, host: str) -> str:
        return self.fixed

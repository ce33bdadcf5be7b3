"""The async lifecycle every long-lived service shares: ``start()``, ``aclose()``, ``async with``."""

from __future__ import annotations

from typing import Self


class Lifecycle:
    """Base of services used as ``async with``: subclasses implement ``start`` and ``aclose``."""

    async def start(self) -> None:
        raise NotImplementedError

    async def aclose(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

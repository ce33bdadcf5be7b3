"""What the Slack and Discord adapters share: the bound command handler and the lifecycle."""

from __future__ import annotations

from typing import Self

from bot.ports import CommandHandler


class ChatPlatform:
    """Base of the chat adapters that take slash commands; subclasses implement start/aclose."""

    _commands: CommandHandler | None = None

    def bind_commands(self, handler: CommandHandler) -> None:
        """Route /quote, /news and /watch to ``handler`` (may be called before or after start)."""
        self._commands = handler

    async def start(self) -> None:
        raise NotImplementedError

    async def aclose(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

"""What the Slack and Discord adapters share: the bound command handler and the lifecycle."""

from __future__ import annotations

from bot.domain.lifecycle import Lifecycle
from bot.ports import CommandHandler


class ChatPlatform(Lifecycle):
    """Base of the chat adapters that take slash commands; subclasses implement start/aclose."""

    _commands: CommandHandler | None = None

    def bind_commands(self, handler: CommandHandler) -> None:
        """Route /quote, /news and /watch to ``handler`` (may be called before or after start)."""
        self._commands = handler

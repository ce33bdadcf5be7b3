"""/quote, /news and /watch: one grammar and one set of platform-neutral handlers for every platform.

``CommandService`` implements ``bot.ports.CommandHandler``; the Slack, Discord and console
adapters bind it. ``grammar.parse`` turns text into a typed command, ``items`` reads
watchlist items, ``permissions`` decides who may change what, ``messages`` holds every text.
"""

from __future__ import annotations

from bot.commands.args import Token, tokenize
from bot.commands.grammar import UsageError, parse
from bot.commands.permissions import PermissionDenied, Permissions
from bot.commands.service import CommandService, help_reply

__all__ = [
    "CommandService",
    "PermissionDenied",
    "Permissions",
    "Token",
    "UsageError",
    "help_reply",
    "parse",
    "tokenize",
]

"""/quote, /news, /watch and /feed: one spec, one grammar and platform-neutral handlers for every platform.

``spec`` declares the commands; ``grammar.parse`` turns text into the value an entry's handler
gets (``parsers`` reads the arguments with a grammar of their own, ``records`` are the typed
values); handlers are marked ``@handles(command, sub)`` (``registry``) and ``CommandService``,
which implements ``bot.ports.CommandHandler`` for the Slack, Discord and console adapters,
dispatches to them. ``items`` reads watchlist items, ``permissions`` decides who may change
what, ``messages`` holds every text.
"""

from __future__ import annotations

from bot.commands.args import Token, tokenize
from bot.commands.grammar import UsageError, parse
from bot.commands.permissions import PermissionDenied, Permissions
from bot.commands.records import Args
from bot.commands.registry import handles
from bot.commands.service import CommandService, help_reply

__all__ = [
    "Args",
    "CommandService",
    "PermissionDenied",
    "Permissions",
    "Token",
    "UsageError",
    "handles",
    "help_reply",
    "parse",
    "tokenize",
]

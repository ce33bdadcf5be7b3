"""Handlers find their spec entry by a decorator: ``@handles("watch", "show")`` on a method.

``handler_table(*groups)`` collects the marked methods of handler objects into the dispatch
table ``{(command, subcommand): bound method}`` (``""`` for a command without subcommands);
``check_handlers`` refuses a table where an entry of the spec has no handler or a handler has
no entry, saying which to add or remove. A handler takes ``(ctx, value)``, the value being the
entry's record (or ``Args``), and returns a Reply (or an awaitable of one).

An entry ``help`` without a handler gets the help derived from the spec.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final, TypeVar

from bot.commands.spec import CommandSpec
from bot.domain.models import CommandContext, Reply

HandlerKey = tuple[str, str]
Handler = Callable[[CommandContext, Any], "Reply | Awaitable[Reply]"]
F = TypeVar("F", bound=Callable[..., Any])

_MARK: Final = "__marketbot_handles__"


def handles(command: str, sub: str = "") -> Callable[[F], F]:
    """Mark a handler method as the one for ``/command sub`` (stackable)."""

    def mark(fn: F) -> F:
        keys = getattr(fn, _MARK, ())
        setattr(fn, _MARK, (*keys, (command, sub)))
        return fn

    return mark


def handler_table(*groups: object) -> dict[HandlerKey, Handler]:
    """Every ``@handles`` method of ``groups`` (handler objects), by (command, subcommand)."""
    table: dict[HandlerKey, Handler] = {}
    for group in groups:
        for name, member in inspect.getmembers(type(group)):
            for key in getattr(member, _MARK, ()):
                if key in table:
                    raise TypeError(
                        f"two handlers for {_shown(key)}: {table[key]!r} and {type(group).__name__}.{name}"
                    )
                table[key] = getattr(group, name)
    return table


def check_handlers(table: dict[HandlerKey, Handler], commands: Sequence[CommandSpec]) -> None:
    """Raise TypeError unless every spec entry has a handler (help may use the derived one) and
    every handler an entry."""
    entries = {(c.name, e.name) for c in commands for e in c.entries()}
    missing = sorted(k for k in entries - table.keys() if k[1] != "help")
    extra = sorted(table.keys() - entries)
    problems = [f"no handler for {_shown(k)}: mark one @handles{k!r}" for k in missing]
    problems += [
        f"a handler for {_shown(k)}, which the spec does not have: declare it in bot.commands.spec"
        for k in extra
    ]
    if problems:
        raise TypeError("; ".join(problems))


async def run_handler(handler: Handler, ctx: CommandContext, value: Any) -> Reply:
    result = handler(ctx, value)
    if inspect.isawaitable(result):
        return await result
    return result


def _shown(key: HandlerKey) -> str:
    return f"/{key[0]} {key[1]}".rstrip()

"""The Discord application-command tree, derived from ``bot.commands.spec``.

Each spec argument becomes a typed option (length and value ranges, autocomplete, choices);
each subcommand that changes state gets the Manage Channels check; each call is turned back
into the command text that the platform-neutral handler parses, and handed to ``run``.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Optional

import discord
from discord import app_commands

from bot.commands import messages as msg
from bot.commands.spec import COMMANDS, Arg, CommandSpec, Sub
from bot.domain.models import Reply
from bot.ports import CommandName, CompleteKind

log = logging.getLogger(__name__)

# (interaction, command, text): run a command for the user
Run = Callable[[discord.Interaction[Any], CommandName, str], Awaitable[None]]
# (interaction, kind, what was typed, complete the last word): autocomplete choices
Complete = Callable[
    [discord.Interaction[Any], CompleteKind, str, bool], Awaitable[list[app_commands.Choice[str]]]
]
# (interaction, reply): tell the user about an error
ErrorAnswer = Callable[[discord.Interaction[Any], Reply], Awaitable[None]]


class CommandTree(app_commands.CommandTree[Any]):
    """CommandTree whose errors answer the user privately instead of vanishing into a log."""

    def __init__(self, client: discord.Client, *, answer_error: ErrorAnswer) -> None:
        super().__init__(client)
        self._answer_error = answer_error

    async def on_error(
        self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError
    ) -> None:
        if isinstance(error, app_commands.MissingPermissions):
            text = msg.NEEDS_MANAGE
        elif isinstance(error, app_commands.CommandSignatureMismatch | app_commands.CommandNotFound):
            log.warning("Discord: %s (commands will be synced again on restart)", error)
            text = msg.OUT_OF_DATE
        elif isinstance(error, app_commands.CheckFailure):
            text = str(error) or msg.NEEDS_MANAGE
        else:
            log.error(
                "Discord: /%s failed",
                interaction.command.qualified_name if interaction.command else "?",
                exc_info=error,
            )
            text = msg.FAILED_SOMEHOW
        await self._answer_error(interaction, Reply(text=text, private=True, error=True))


def can_manage(interaction: discord.Interaction[Any]) -> bool:
    """Manage Channels (or Administrator) in this channel: what changing watchlists needs."""
    perms = interaction.permissions
    return bool(perms.administrator or perms.manage_channels)


def require_manage(interaction: discord.Interaction[Any]) -> bool:
    """Runtime check for commands that change state (server admins may have widened who sees /watch)."""
    if can_manage(interaction):
        return True
    raise app_commands.MissingPermissions(["manage_channels"])


def build_tree(
    client: discord.Client,
    *,
    run: Run,
    complete: Complete,
    answer_error: ErrorAnswer,
    guild_ids: Sequence[int] = (),
    commands: Sequence[CommandSpec] = COMMANDS,
) -> CommandTree:
    """The tree of ``commands``: in each of ``guild_ids`` (instant) or global when there are none."""
    tree = CommandTree(client, answer_error=answer_error)
    guilds = [discord.Object(g) for g in guild_ids] or None
    for spec in commands:
        command = _group(spec, run, complete) if spec.subcommands else _command(spec, None, run, complete)
        if guilds:
            tree.add_command(command, guilds=guilds)
        else:
            tree.add_command(command)
    return tree


def _group(spec: CommandSpec, run: Run, complete: Complete) -> app_commands.Group:
    group = app_commands.Group(
        name=spec.name,
        description=spec.description,
        default_permissions=discord.Permissions(manage_channels=True) if spec.managers_only else None,
        guild_only=spec.managers_only,
    )
    for sub in spec.subcommands:
        group.add_command(_command(spec, sub, run, complete, parent=group))
    return group


def _command(
    spec: CommandSpec,
    sub: Sub | None,
    run: Run,
    complete: Complete,
    *,
    parent: app_commands.Group | None = None,
) -> app_commands.Command[Any, ..., None]:
    args = sub.args if sub is not None else spec.args
    by_param = {_param(a): a for a in args}

    async def callback(interaction: discord.Interaction[Any], **values: Any) -> None:
        given = {by_param[k].name: v for k, v in values.items()}
        await run(interaction, spec.name, spec.text(sub.name if sub else None, given))

    # discord.py reads the options from the callback's signature: declare one from the spec
    params = [inspect.Parameter("interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    params += [
        inspect.Parameter(
            _param(a),
            inspect.Parameter.KEYWORD_ONLY,
            annotation=_annotation(a),
            default=inspect.Parameter.empty if a.required else None,
        )
        for a in args
    ]
    callback.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    callback.__qualname__ = callback.__name__ = f"{spec.name}_{sub.name}" if sub else spec.name
    app_commands.describe(**{_param(a): a.description for a in args})(callback)
    renames = {_param(a): a.name for a in args if _param(a) != a.name}
    if renames:
        app_commands.rename(**renames)(callback)
    choices = {
        _param(a): [app_commands.Choice(name=n, value=v) for n, v in a.choices] for a in args if a.choices
    }
    if choices:
        app_commands.choices(**choices)(callback)
    completers = {_param(a): _completer(a, complete) for a in args if a.complete}
    if completers:
        app_commands.autocomplete(**completers)(callback)
    if sub is not None and sub.manage:
        app_commands.check(require_manage)(callback)
    return app_commands.Command(
        name=sub.name if sub else spec.name,
        description=sub.description if sub else spec.description,
        callback=callback,
        parent=parent,
    )


def _param(arg: Arg) -> str:
    return arg.name.replace("-", "_")


def _annotation(arg: Arg) -> Any:
    base: Any
    if arg.kind == "bool":
        base = bool
    elif arg.kind == "int":
        base = (
            app_commands.Range[int, arg.low, arg.high] if arg.low is not None or arg.high is not None else int
        )
    else:
        base = (
            app_commands.Range[str, arg.low, arg.high] if arg.low is not None or arg.high is not None else str
        )
    return base if arg.required else Optional[base]  # noqa: UP045 - a Range is not a type: no `|`


def _completer(
    arg: Arg, complete: Complete
) -> Callable[[discord.Interaction[Any], str], Coroutine[Any, Any, list[app_commands.Choice[str]]]]:
    kind = arg.complete
    assert kind is not None

    async def choices(interaction: discord.Interaction[Any], current: str) -> list[app_commands.Choice[str]]:
        return await complete(interaction, kind, current, arg.last_word)

    return choices


__all__ = ["CommandTree", "build_tree", "can_manage", "require_manage"]

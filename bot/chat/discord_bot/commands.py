"""The application commands: the tree derived from ``bot.commands.spec`` and the glue that
turns an interaction into a command for the runner and its reply into Discord's answer.

Each spec argument becomes a typed option (length and value ranges, autocomplete, choices);
each subcommand that changes state gets the Manage Channels check; each call is turned back
into the command text that the platform-neutral handler parses.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Final, Optional

import discord
from discord import app_commands

from bot.chat.discord_bot.errors import ALREADY_ACKNOWLEDGED, delivery_error
from bot.chat.discord_bot.send import message_kwargs, refused, text_only
from bot.chat.discord_embeds import (
    DiscordMessage,
    reply_message,
)
from bot.commands import messages as msg
from bot.commands.runner import CommandRunner, rich_then_plain
from bot.commands.spec import COMMANDS, Arg, CommandSpec, Sub
from bot.commands.spec import command as command_spec
from bot.domain.errors import DeliveryError
from bot.domain.models import ChannelRef, CommandContext, Reply
from bot.ports import CommandHandler, CommandName, CompleteKind

log = logging.getLogger(__name__)


# (interaction, command, text): run a command for the user
Run = Callable[[discord.Interaction[Any], CommandName, str], Awaitable[None]]
# (interaction, kind, what was typed, complete the last word): autocomplete choices
Complete = Callable[
    [discord.Interaction[Any], CompleteKind, str, bool], Awaitable[list[app_commands.Choice[str]]]
]
# (interaction, reply): tell the user about an error
ErrorAnswer = Callable[[discord.Interaction[Any], Reply], Awaitable[None]]


MSG_NEEDS_MANAGE: Final = msg.NEEDS_MANAGE
MSG_OUT_OF_DATE: Final = msg.OUT_OF_DATE


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
    if spec.admins_only:
        permissions: discord.Permissions | None = discord.Permissions(manage_guild=True)
    elif spec.managers_only:
        permissions = discord.Permissions(manage_channels=True)
    else:
        permissions = None
    group = app_commands.Group(
        name=spec.name,
        description=spec.description,
        default_permissions=permissions,
        guild_only=permissions is not None,
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


class InteractionCommands:
    """Slash commands arriving as interactions: translated for the runner, answered in Discord.

    Quick answers go in place; slow ones (per the spec) and any that outlast ``defer_after``
    are deferred ("thinking…") and followed up. Autocomplete asks the handler within Discord's
    3 s. ``admins`` are user ids that count as admins everywhere.
    """

    def __init__(
        self,
        *,
        handler: Callable[[], CommandHandler | None],
        admins: frozenset[str],
        defer_after: float,
        command_timeout: float,
        autocomplete_timeout: float,
        shutdown_grace: float,
    ) -> None:
        self._handler = handler
        self._admins = admins
        self._autocomplete_timeout = autocomplete_timeout
        self.runner = CommandRunner(
            platform="Discord",
            handler=handler,
            command_timeout=command_timeout,
            shutdown_grace=shutdown_grace,
            defer_after=defer_after,
        )

    def tree(self, client: discord.Client, guild_ids: Sequence[int]) -> CommandTree:
        """The application commands of ``bot.commands.spec``, answered by this front end."""
        return build_tree(
            client,
            run=self._command,
            complete=self._complete,
            answer_error=self._answer_error,
            guild_ids=guild_ids,
        )

    async def shutdown(self) -> None:
        """Let running commands finish for the grace period, then cancel them."""
        await self.runner.shutdown()

    async def _answer_error(self, interaction: discord.Interaction[Any], reply: Reply) -> None:
        """Tell the user privately about a failed check or a stale command definition."""
        try:
            if interaction.response.is_done():
                await interaction.followup.send(**message_kwargs(reply_message(reply)), ephemeral=True)
            else:
                await interaction.response.send_message(
                    **message_kwargs(reply_message(reply)), ephemeral=True
                )
        except discord.HTTPException as exc:
            log.warning("Discord: could not tell the user about an error: %s", exc)

    def _context(self, interaction: discord.Interaction[Any]) -> CommandContext:
        guild = str(interaction.guild_id) if interaction.guild_id else None
        user = interaction.user
        admin = (bool(guild) and bool(interaction.permissions.administrator)) or str(user.id) in self._admins
        return CommandContext(
            platform="discord",
            channel=ChannelRef("discord", str(interaction.channel_id or ""), workspace=guild),
            user=str(user.id),
            workspace=guild,
            user_name=user.display_name,
            is_admin=admin,
            can_manage=admin or can_manage(interaction),
            can_manage_server=admin or bool(guild and interaction.permissions.manage_guild),
        )

    async def _command(self, interaction: discord.Interaction[Any], command: CommandName, text: str) -> None:
        """Translate an interaction for the runner: answered in place when quick, else deferred."""
        spec = command_spec(command)
        sub = text.split(" ", 1)[0] if spec is not None and spec.subcommands else ""
        private = spec is not None and spec.is_private(text)

        async def context() -> CommandContext:
            return self._context(interaction)

        async def defer(private: bool) -> bool:
            try:
                await interaction.response.defer(thinking=True, ephemeral=private)
            except discord.HTTPException as exc:
                # the 3-second window passed (10062) or Discord is failing: the work still runs
                if exc.code == ALREADY_ACKNOWLEDGED:  # another gateway session of the bot answered
                    log.info("Discord /%s %s: already answered by another session", command, sub)
                else:
                    log.warning(
                        "Discord /%s %s: could not acknowledge the interaction: %s", command, sub, exc
                    )
                return False
            return True

        async def answer(reply: Reply, deferred: bool) -> None:
            await self._answer(
                interaction, reply, deferred=deferred, deferred_private=private, command=command
            )

        await self.runner.dispatch(
            command,
            text,
            context=context,
            acknowledge=defer,
            answer=answer,
            slow=spec is not None and spec.is_slow(text),
            private=private,
        )

    async def _answer(
        self,
        interaction: discord.Interaction[Any],
        reply: Reply,
        *,
        deferred: bool,
        deferred_private: bool,
        command: str,
    ) -> None:
        async def send(attempt: DiscordMessage) -> None:
            try:
                if not (deferred or interaction.response.is_done()):
                    await interaction.response.send_message(
                        **message_kwargs(attempt), ephemeral=reply.private
                    )
                elif reply.private and not deferred_private:
                    # the "thinking…" message is public; an error or help must not be: replace it
                    with contextlib.suppress(discord.HTTPException):
                        await interaction.delete_original_response()
                    await interaction.followup.send(**message_kwargs(attempt), ephemeral=True)
                else:
                    # after a defer, the first follow-up replaces the "thinking…" message
                    await interaction.followup.send(**message_kwargs(attempt), ephemeral=reply.private)
            except discord.HTTPException as exc:
                raise delivery_error(
                    exc, action=f"answer /{command}", channel=interaction.channel_id
                ) from exc

        try:
            await rich_then_plain(
                reply_message(reply), send=send, plain=text_only, refused=refused, what=f"Discord /{command}"
            )
        except DeliveryError as err:
            log.warning("Discord /%s: could not send the answer: %s", command, err)

    async def _complete(
        self,
        interaction: discord.Interaction[Any],
        kind: CompleteKind,
        current: str,
        multi: bool = False,
    ) -> list[app_commands.Choice[str]]:
        """Autocomplete from the handler (at most 25, within Discord's 3 s); the last word when ``multi``."""
        handler = self._handler()
        if handler is None:
            return []
        head, prefix = "", current.strip()
        if multi and " " in current.strip():
            head, _, prefix = current.strip().rpartition(" ")
            head += " "
        try:
            async with asyncio.timeout(self._autocomplete_timeout):
                options = await handler.complete(self._context(interaction), kind, prefix)
        except Exception as exc:
            log.debug("Discord autocomplete %s %r failed: %s", kind, prefix, exc)
            return []
        out: list[app_commands.Choice[str]] = []
        for option in options:
            value = (head + option)[:100]
            if value.strip() and all(c.value != value for c in out):
                out.append(app_commands.Choice(name=value, value=value))
            if len(out) == 25:
                break
        return out

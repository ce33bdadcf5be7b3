"""What admins do from chat, for operators at the shell: ``marketbot feeds add|list|remove|test``
and ``marketbot subscriptions set``.

One implementation: the arguments become the text a chat user would type, and go through the
same grammar, handlers, SSRF guard, limits and one-line errors as ``/feed`` and
``/watch subscribe``. The operator acts as an admin of the workspace named by ``--workspace``
(``slack:T0123ABCD`` or ``discord:112233445566778899``). A running bot picks the change up
through the catalog version (within a minute), on every replica.
"""

from __future__ import annotations

import asyncio
import getpass
import json
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.common import EXIT_FAILURE, EXIT_USAGE, ConfigOption, fail, fail_command, load
from bot.domain.errors import BotError, ValidationError
from bot.domain.models import ChannelRef, CommandContext, Reply

if TYPE_CHECKING:
    from bot.app.tools import CommandName

WorkspaceOption = Annotated[
    str,
    typer.Option(
        "--workspace",
        "-w",
        metavar="PLATFORM:WORKSPACE",
        help="The Slack workspace (slack:T0123ABCD) or Discord server (discord:112233445566778899).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the reply as one JSON object.")]


def workspace_context(workspace: str | None, channel: ChannelRef | None = None) -> CommandContext:
    """An operator acting as an admin of ``PLATFORM:WORKSPACE`` (``channel`` when one is concerned;
    without a workspace, only the channel's platform and the config's watchlists are known)."""
    ident: str | None = None
    if workspace is not None:
        platform, sep, ident = workspace.strip().partition(":")
        platform = platform.lower()
        if (
            not sep
            or platform not in ("slack", "discord")
            or not ident
            or not ident.replace("_", "").isalnum()
        ):
            raise ValidationError(
                f"--workspace {workspace!r} should be slack:TEAM_ID (e.g. slack:T0123ABCD) "
                "or discord:GUILD_ID (e.g. discord:112233445566778899)"
            )
        if channel is not None and channel.platform != platform:
            raise ValidationError(f"the channel is on {channel.platform} but --workspace is on {platform}")
    elif channel is not None:
        platform = channel.platform
    else:
        raise ValidationError("--workspace is required, e.g. --workspace slack:T0123ABCD")
    where = ChannelRef(platform, channel.channel if channel else str(ident), workspace=ident)
    return CommandContext(
        platform=platform,
        channel=where,
        user=f"cli:{_operator()}",
        workspace=ident,
        is_admin=True,
        can_manage=True,
        can_manage_server=True,
    )


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "operator"


def _print(reply: Reply, json_output: bool) -> None:
    """The reply on stdout; an error on stderr with exit status 2 (bad input) or 1 (refused)."""
    from bot.app.tools import reply_json, reply_text

    if json_output:
        typer.echo(json.dumps(reply_json(reply), ensure_ascii=False), err=reply.error)
    else:
        typer.echo(reply_text(reply).rstrip("\n"), err=reply.error)
    if reply.error:
        raise typer.Exit(EXIT_USAGE if any(f.label == "Usage" for f in reply.fields) else EXIT_FAILURE)


def _run(
    config: ConfigOption,
    build: str,
    workspace: str | None,
    command: CommandName,
    json_output: bool,
    channel: str | None = None,
) -> None:
    from bot.app.tools import run_command

    env, cfg = load(config)
    try:
        target = ChannelRef.parse(channel) if channel is not None else None
        ctx = workspace_context(workspace, target)
        reply = asyncio.run(run_command(env, cfg, ctx, command, build))
    except BotError as exc:
        fail_command(exc)
    _print(reply, json_output)


def _words(*parts: str | None) -> str:
    return " ".join(p for p in parts if p)


def register_feeds(feeds_app: typer.Typer) -> None:
    """``marketbot feeds add|list|remove|test``."""

    @feeds_app.command("add")
    def add(
        url: Annotated[str, typer.Argument(help="The feed's http(s) URL (RSS or Atom).")],
        workspace: WorkspaceOption,
        every: Annotated[str | None, typer.Option("--every", help="Poll interval, e.g. 5m or 1h.")] = None,
        name: Annotated[str | None, typer.Option("--name", help="Default: the feed's title.")] = None,
        config: ConfigOption = None,
        json_output: JsonOption = False,
    ) -> None:
        """Test a feed through the SSRF guard and, if it works, poll it for the workspace."""
        text = _words("add", url, f"every {every}" if every else None, f"name {name}" if name else None)
        _run(config, text, workspace, "feed", json_output)

    @feeds_app.command("list")
    def list_(
        workspace: WorkspaceOption, config: ConfigOption = None, json_output: JsonOption = False
    ) -> None:
        """The workspace's chat feeds with their health."""
        _run(config, "list", workspace, "feed", json_output)

    @feeds_app.command("remove")
    def remove(
        name: Annotated[str, typer.Argument(help="The feed's name (see `marketbot feeds list`).")],
        workspace: WorkspaceOption,
        config: ConfigOption = None,
        json_output: JsonOption = False,
    ) -> None:
        """Stop polling one of the workspace's chat feeds."""
        _run(config, _words("remove", name), workspace, "feed", json_output)

    @feeds_app.command("test")
    def test(
        url: Annotated[str, typer.Argument(help="The feed's http(s) URL.")],
        workspace: WorkspaceOption,
        config: ConfigOption = None,
        json_output: JsonOption = False,
    ) -> None:
        """Fetch once: the three newest items and which of the workspace's watchlists they match."""
        _run(config, _words("test", url), workspace, "feed", json_output)


def register_subscriptions(subs_app: typer.Typer) -> None:
    """``marketbot subscriptions set``."""

    @subs_app.command("set")
    def set_(
        channel: Annotated[str, typer.Argument(metavar="PLATFORM:CHANNEL", help="e.g. slack:C0123ABCD")],
        watchlist: Annotated[str, typer.Argument(help="The watchlist to subscribe the channel to.")],
        options: Annotated[
            list[str] | None,
            typer.Argument(
                metavar="[OPTIONS]...",
                help="As in chat: quiet 22:00-06:00, max 10/h, min-move 2%, sessions pre-market,regular, "
                "threads on|off, briefing premarket|off",
            ),
        ] = None,
        workspace: Annotated[
            str | None,
            typer.Option(
                "--workspace",
                "-w",
                metavar="PLATFORM:WORKSPACE",
                help="The channel's workspace or server (needed for watchlists made in chat).",
            ),
        ] = None,
        config: ConfigOption = None,
        json_output: JsonOption = False,
    ) -> None:
        """Subscribe a channel to a watchlist with options, or change an existing subscription's options."""
        try:
            ref = ChannelRef.parse(channel)
        except ValidationError as exc:
            fail(str(exc), EXIT_USAGE)
        if ref.platform not in ("slack", "discord"):
            fail(f"{channel!r}: subscriptions set is for slack:CHANNEL or discord:CHANNEL", EXIT_USAGE)
        text = _words("subscribe", watchlist, *(options or []))
        _run(config, text, workspace, "watch", json_output, channel=channel)

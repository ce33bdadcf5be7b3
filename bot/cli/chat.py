"""CLI commands for the chat area (registered by ``bot.cli``): ``marketbot discord invite``,
``marketbot slack manifest``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from bot.cli.common import EXIT_USAGE, ConfigOption, fail, handle_errors, load
from bot.config import Env, load_env
from bot.domain.errors import BotError, ConfigError

discord_app = typer.Typer(
    name="discord",
    help="Discord set-up: the URL that adds the bot to a server.",
    no_args_is_help=True,
)

slack_app = typer.Typer(
    name="slack",
    help="Slack set-up: the app manifest's slash commands.",
    no_args_is_help=True,
)

MANIFEST = Path("config/slack-app-manifest.yaml")

_PERMISSION_NAMES = {
    "send_messages": "Send Messages",
    "embed_links": "Embed Links",
    "attach_files": "Attach Files",
    "create_public_threads": "Create Public Threads",
    "send_messages_in_threads": "Send Messages in Threads",
}


def _env(config: Path | None) -> Env:
    """The environment; with ``--config`` the config file is validated too (these commands need none)."""
    if config is not None:
        return load(config)[0]
    try:
        return load_env()
    except ConfigError as exc:
        fail(str(exc), EXIT_USAGE)


@discord_app.command("invite")
def invite(
    client_id: Annotated[
        int | None,
        typer.Option(
            "--client-id",
            help="The application (client) id; default: $DISCORD_APPLICATION_ID, else asked of Discord "
            "with $DISCORD_BOT_TOKEN.",
            show_default=False,
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Print the invite URL: scopes bot + applications.commands and exactly five permissions.

    The URL goes to stdout (so ``$(marketbot discord invite)`` works); what it asks for and why
    goes to stderr.
    """
    from bot.app.tools import INVITE_PERMISSIONS, INVITE_SCOPES, fetch_application_id, invite_url

    env = _env(config)
    app_id = client_id or env.discord_application_id
    if app_id is None:
        if env.discord_bot_token is None:
            fail(
                "no application id: set DISCORD_APPLICATION_ID (Developer Portal → your application → "
                "General Information → Application ID), or set DISCORD_BOT_TOKEN so it can be looked up, "
                "or pass --client-id",
                EXIT_USAGE,
            )
        try:
            app_id = asyncio.run(
                fetch_application_id(env.discord_bot_token.get_secret_value(), api_url=env.discord_api_url)
            )
        except BotError as exc:
            handle_errors(exc)
    typer.echo(invite_url(app_id))
    lines = [
        f"Scopes: {' + '.join(INVITE_SCOPES)} (the bot user and its slash commands).",
        f"Permissions {INVITE_PERMISSIONS.value} is the sum of:",
    ]
    for name, on in INVITE_PERMISSIONS:
        if on:
            bit = getattr(type(INVITE_PERMISSIONS), name).flag
            lines.append(
                f"  {_PERMISSION_NAMES.get(name, name):<26} 1 << {bit.bit_length() - 1:<2} = {bit:>13}"
            )
    lines += [
        "Nothing else: no Administrator, no Manage permissions, no privileged gateway intents.",
        "View Channels and Read Message History come from @everyone in a default server; a private",
        "channel must let the bot's role in (View Channel) for alerts to be posted there.",
    ]
    typer.echo("\n".join(lines), err=True)


@discord_app.command("clear-commands")
def clear_commands(
    guild_ids: Annotated[
        list[int], typer.Argument(help="Server (guild) ids to remove marketbot's commands from.")
    ],
    config: ConfigOption = None,
) -> None:
    """Remove the commands registered in servers by DISCORD_GUILD_IDS (after going back to global ones)."""
    from bot.app.tools import clear_guild_commands

    env = _env(config)
    if env.discord_bot_token is None:
        fail("DISCORD_BOT_TOKEN is not set: the bot's token is needed to change its commands", EXIT_USAGE)
    try:
        results = asyncio.run(
            clear_guild_commands(
                env.discord_bot_token.get_secret_value(), guild_ids, api_url=env.discord_api_url
            )
        )
    except BotError as exc:
        handle_errors(exc)
    for gid, outcome in results.items():
        typer.echo(f"{gid}: {outcome}")
    if any(outcome != "cleared" for outcome in results.values()):
        raise typer.Exit(1)


@slack_app.command("manifest")
def manifest(
    path: Annotated[
        Path, typer.Argument(help="The manifest to update (the one in the repo by default).")
    ] = MANIFEST,
    check: Annotated[
        bool,
        typer.Option(
            "--check", help="Change nothing; exit 1 when the file's slash commands are out of date."
        ),
    ] = False,
) -> None:
    """Write the commands of bot/commands/spec.py into the Slack app manifest's slash_commands.

    The rest of the file (comments included) is kept. Run it after adding or changing a slash
    command, then update the app at api.slack.com (App Manifest) or reinstall it.
    """
    from bot.app.tools import slack_manifest

    try:
        current = path.read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"{path}: cannot read the manifest: {exc.strerror or exc}", EXIT_USAGE)
    try:
        updated = slack_manifest(current)
    except ValueError as exc:
        fail(f"{path}: {exc}", EXIT_USAGE)
    if updated == current:
        typer.echo(f"{path}: up to date")
        return
    if check:
        typer.echo(
            f"{path}: slash_commands differ from bot/commands/spec.py; run marketbot slack manifest", err=True
        )
        raise typer.Exit(1)
    path.write_text(updated, encoding="utf-8")
    typer.echo(f"{path}: slash_commands updated")


def register(app: typer.Typer) -> None:
    """Add this area's subcommands to the main app."""
    app.add_typer(discord_app, name="discord")
    app.add_typer(slack_app, name="slack")

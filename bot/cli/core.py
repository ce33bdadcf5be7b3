"""Core commands: run, check, db upgrade, --version."""

from __future__ import annotations

from typing import Annotated

import typer

import bot
from bot.cli.common import ConfigOption, load


def _version(value: bool) -> None:
    if value:
        typer.echo(f"marketbot {bot.__version__}")
        raise typer.Exit()


def register(app: typer.Typer) -> None:
    """Add the core subcommands."""

    @app.callback()
    def _root(
        version: Annotated[
            bool,
            typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
        ] = False,
    ) -> None:
        """Market-news alerts for Slack and Discord."""

    @app.command()
    def check(config: ConfigOption = None) -> None:
        """Validate the config and print a summary."""
        env, cfg = load(config)
        typer.echo(f"config: {env.config_path} OK")
        typer.echo(
            f"feeds: {len(cfg.feeds)}, watchlists: {len(cfg.watchlists)}, subscriptions: {len(cfg.subscriptions)}"
        )

"""CLI commands for the ingest area (registered by ``bot.cli``)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this area's subcommands to the main app."""

"""The ``marketbot`` command line (typer). Thin: parse arguments, call the app, print.

Each area registers its subcommands from its own module (``register(app)``), so the
modules stay small and owned by the code they front.
"""

from __future__ import annotations

import gc

import typer

from bot import GC_THRESHOLDS
from bot.cli import briefing, chat, cluster, core, delivery, ingest, market, rules, symbols

app = typer.Typer(
    name="marketbot",
    help="Market-news alerts for Slack and Discord.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

for _module in (core, ingest, rules, symbols, market, delivery, briefing, chat, cluster):
    _module.register(app)


def main() -> None:
    """Console-script entry point."""
    # Start-up (imports, a config of 10,000 watchlists) allocates millions of objects that all
    # stay: at the collector's default young threshold (700) they are walked again and again,
    # a tenth of a second of `marketbot run`'s start-up; ``python -m bot`` sets them even before
    # its first import.
    gc.set_threshold(*GC_THRESHOLDS)
    app()

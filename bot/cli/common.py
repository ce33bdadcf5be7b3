"""Shared CLI plumbing: the --config option, loading settings, exit codes, output."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from bot.config import BotConfig, Env, load_config, load_env
from bot.domain.errors import BotError, ConfigError, StoreError, ValidationError

EXIT_FAILURE = 1
EXIT_USAGE = 2

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Config file (default: $MARKETBOT_CONFIG or config/bot.yaml).",
        show_default=False,
    ),
]


def fail(message: str, code: int = EXIT_FAILURE) -> NoReturn:
    """Print a one-paragraph error on stderr and exit; never a traceback."""
    typer.echo(f"marketbot: error: {message}", err=True)
    raise typer.Exit(code)


def load(config: Path | None) -> tuple[Env, BotConfig]:
    """Environment plus validated config; configuration errors exit with status 2."""
    try:
        env = load_env()
        path = config or env.config_path
        cfg = load_config(path)
    except ConfigError as exc:
        fail(str(exc), EXIT_USAGE)
    if config is not None:
        env = _with_config(env, config)
    return env, cfg


def _with_config(env: Env, path: Path) -> Env:
    from dataclasses import replace

    return replace(env, config_path=path)


def handle_errors(exc: BaseException) -> NoReturn:
    """Turn a BotError into a clean exit; re-raise anything else."""
    if isinstance(exc, ConfigError):
        fail(str(exc), EXIT_USAGE)
    if isinstance(exc, BotError):
        fail(str(exc), EXIT_FAILURE)
    raise exc


def fail_command(exc: BaseException) -> NoReturn:
    """A command's error as a clean exit: bad input or a store it cannot use (ValidationError,
    StoreError) exits 2, like a configuration error; any other BotError 1; anything else re-raises."""
    if isinstance(exc, StoreError | ValidationError):
        fail(str(exc), EXIT_USAGE)
    handle_errors(exc)


def stdout_is_tty() -> bool:
    return sys.stdout.isatty()


def text_table(head: tuple[str, ...], rows: Sequence[tuple[str, ...]], *, max_width: int = 48) -> str:
    """Columns padded to their widest cell (cells longer than ``max_width`` end in "…")."""
    table = [head, *rows]
    widths = [min(max_width, max(len(row[i]) for row in table)) for i in range(len(head))]
    lines = []
    for row in table:
        cells = [c if len(c) <= widths[i] else c[: widths[i] - 1] + "…" for i, c in enumerate(row)]
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(cells)).rstrip())
    return "\n".join(lines)

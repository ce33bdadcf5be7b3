"""``marketbot symbols``: the company names tickers are matched by, and refreshing them.

``marketbot symbols`` summarises the directory (how many symbols from which source, when each
source was last refreshed); ``marketbot symbols SYM`` lists every name SYM is matched by, with
its source and how it was derived, and the variants left out with the reason;
``marketbot symbols --refresh`` fetches SEC's company list and the quote source's names of
every watched ticker now. The names come from the same store the running bot uses, so
``match``, ``explain`` and ``/watch test`` see exactly what it sees.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from bot.cli.common import EXIT_FAILURE, ConfigOption, fail, load
from bot.config import BotConfig, Env
from bot.domain.errors import BotError, ValidationError
from bot.domain.rules import SymbolDirectory, canonical_symbol
from bot.domain.rules.symbols import GATES


async def stored_directory(env: Env, cfg: BotConfig) -> SymbolDirectory:
    """The directory the running bot uses: bundled index + stored names + config aliases.

    A database that cannot be opened leaves the bundled index (with a warning on stderr).
    """
    from bot.app import tools

    try:
        return await tools.stored_directory(env, cfg)
    except BotError as exc:
        typer.echo(f"marketbot: warning: {exc}; using the bundled symbol index only", err=True)
        return tools.bundled_directory(cfg)


def directory_for(env: Env, cfg: BotConfig) -> SymbolDirectory:
    """``stored_directory`` for synchronous commands."""
    return asyncio.run(stored_directory(env, cfg))


async def _summary(env: Env, cfg: BotConfig) -> list[str]:
    from bot.app.tools import symbol_summary

    summary = await symbol_summary(env, cfg)
    directory, refreshes = summary.directory, summary.refreshes
    by_source: dict[str, set[str]] = {}
    for rec in directory.records:
        by_source.setdefault(rec.source, set()).add(rec.symbol)
    out = [f"{len(directory):,} symbols of {len(directory.companies):,} companies"]
    for source, label in (
        ("bundled", "bundled index"),
        ("sec", "SEC company list"),
        ("quote", "quote names"),
    ):
        out.append(f"  {label}: {len(by_source.get(source, ())):,} symbols")
    sec = refreshes.get("sec")
    out.append(
        f"  SEC company list last checked {sec.checked_at:%Y-%m-%d %H:%M} UTC: {sec.status}"
        if sec
        else "  SEC company list: never fetched (marketbot symbols --refresh)"
    )
    quotes = [r for k, r in refreshes.items() if k.startswith("quote:")]
    if quotes:
        last = max(r.checked_at for r in quotes)
        out.append(f"  quote names: {len(quotes)} tickers checked, last {last:%Y-%m-%d %H:%M} UTC")
    return out


def describe(directory: SymbolDirectory, symbol: str) -> list[str]:
    """What ``marketbot symbols SYM`` prints."""
    company = directory.company(symbol)
    if company is None:
        near = directory.suggest(symbol)
        hint = f" Nearest known: {', '.join(near)}." if near else ""
        return [
            f"{symbol}: not in the symbol directory. A watchlist can still use it: it is matched as "
            f"${symbol}, exchange-qualified (NYSE: {symbol}) and bare {symbol}. Add its company name "
            f"under aliases: in the config, or run marketbot symbols --refresh once it is watched.{hint}"
        ]
    out = [f"{company.symbol}: " + ", ".join(company.symbols)]
    if company.symbol != symbol:
        out[0] = f"{symbol}: a listing of {company.symbol} ({', '.join(company.symbols)})"
    if not company.major:
        out.append(
            "  bare symbol: counted only in a ticker context (e.g. "
            f"({company.symbol}), {company.symbol} shares), not being in the bundled index"
        )
    out.append("  names given:")
    for name, source in company.name_sources:
        out.append(f'    "{name}" ({source})')
    out.append("  matched by:")
    for form in company.forms:
        extra = "" if not form.gate else f" - {GATES[form.gate]}"
        if form.caps:
            extra += " - in capitals only"
        out.append(f"    {form.describe()}{extra}")
    if not company.forms:
        out.append("    no name (symbols only)")
    if company.dropped:
        out.append("  not used:")
        for d in company.dropped:
            out.append(f'    "{d.text}" (from "{d.origin}", {d.source}): {d.reason}')
    return out


def register(app: typer.Typer) -> None:
    """Add ``symbols``."""

    @app.command("symbols")
    def symbols_cmd(
        symbol: Annotated[
            str | None,
            typer.Argument(help="A ticker: list the names it is matched by and where they come from."),
        ] = None,
        refresh: Annotated[
            bool,
            typer.Option(
                "--refresh", help="Fetch SEC's company list and the quote names of every watched ticker now."
            ),
        ] = False,
        config: ConfigOption = None,
    ) -> None:
        """Company names behind ticker matching: list them for a ticker, or refresh them."""
        env, cfg = load(config)
        if refresh:
            from bot.app.tools import refresh_symbols

            try:
                lines, failed = asyncio.run(refresh_symbols(env, cfg))
            except BotError as exc:
                fail(str(exc))
            for line in lines:
                typer.echo(line)
            if failed:
                raise typer.Exit(EXIT_FAILURE)
            if symbol is None:
                return
        if symbol is None:
            try:
                for line in asyncio.run(_summary(env, cfg)):
                    typer.echo(line)
            except BotError as exc:
                fail(str(exc))
            return
        try:
            sym = canonical_symbol(symbol)
        except ValidationError as exc:
            fail(str(exc))
        for line in describe(directory_for(env, cfg), sym):
            typer.echo(line)

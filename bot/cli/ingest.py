"""CLI commands for the ingest area: ``marketbot feeds``.

Shows every feed the bot polls (the config's feeds, ticker feeds for every watched ticker,
feeds added from chat, Yahoo ticker news when enabled) with its last status, last success, items seen, consecutive
failures, next poll and, for a disabled feed, why and how to turn it back on. Read-only,
except ``--enable FEED`` which clears an automatic disable. ``--json`` prints one JSON array.
(``marketbot poll --once`` lives with the core commands: it needs the whole app.)
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any

import typer

from bot.cli.common import EXIT_USAGE, ConfigOption, fail, load
from bot.domain.errors import BotError, StoreError
from bot.domain.records import FeedState
from bot.domain.timeutil import format_age, format_duration


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def enable_hint(state: FeedState) -> str:
    """What a user does about a disabled feed."""
    if state.last_error and state.last_error.startswith("blocked"):
        return "only public http(s) addresses can be polled for feeds added from chat; use another URL"
    return (
        "check the URL in a browser (moved? gone? needs a different address?), fix it in the config "
        f"if needed, then run `marketbot feeds --enable {state.id}`"
    )


def feed_rows(states: Sequence[FeedState], now: datetime) -> list[dict[str, Any]]:
    """One JSON-ready record per feed."""
    rows = []
    for s in states:
        if not s.spec.enabled:
            status = "off (enabled: false)"
        elif s.disabled_reason:
            status = "disabled"
        else:
            status = s.last_status or "never polled"
        rows.append(
            {
                "id": s.id,
                "name": s.spec.name,
                "url": s.spec.url,
                "origin": s.spec.origin,
                "enabled": s.spec.enabled,
                "status": status,
                "last_polled": _iso(s.last_polled_at),
                "last_success": _iso(s.last_success_at),
                "items": s.items_seen,
                "failures": s.consecutive_failures,
                "next_poll": _iso(s.next_poll_at) if s.spec.enabled and not s.disabled_reason else None,
                "disabled_reason": s.disabled_reason,
                "last_error": s.last_error,
                "fix": enable_hint(s) if s.disabled_reason else None,
            }
        )
    return rows


def _next_poll(value: str | None, now: datetime) -> str:
    if value is None:
        return "-"
    delta = datetime.fromisoformat(value) - now
    if delta.total_seconds() <= 0:
        return "due now"
    return f"in {format_duration(delta)}"


def render(rows: Sequence[Mapping[str, Any]], now: datetime) -> str:
    """A plain-text table; a disabled feed gets its reason and the fix, a failing one its last error."""
    if not rows:
        return "no feeds: add some under `feeds:` (or `ticker_feeds:`) in the config"
    head = ("FEED", "ORIGIN", "STATUS", "LAST SUCCESS", "ITEMS", "FAILURES", "NEXT POLL")
    table = [head]
    for r in rows:
        last = r["last_success"]
        table.append(
            (
                r["name"],
                r["origin"],
                r["status"],
                format_age(datetime.fromisoformat(last), now) if last else "never",
                str(r["items"]),
                str(r["failures"]),
                _next_poll(r["next_poll"], now),
            )
        )
    widths = [min(48, max(len(row[i]) for row in table)) for i in range(len(head))]
    lines = []
    for n, row in enumerate(table):
        cells = [
            cell if len(cell) <= widths[i] else cell[: widths[i] - 1] + "…" for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(cells)).rstrip())
        if not n:
            continue
        r = rows[n - 1]
        if r["disabled_reason"]:
            lines.append(f"    disabled: {r['disabled_reason']}")
            lines.append(f"    fix: {r['fix']}")
        elif r["failures"] and r["last_error"]:
            lines.append(f"    last error: {r['last_error']}")
    failing = sum(1 for r in rows if r["disabled_reason"] or r["failures"])
    lines.append("")
    lines.append(f"{len(rows)} feeds, {failing} failing or disabled")
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    """Add this area's subcommands to the main app."""

    from bot.cli.admin import register_feeds

    feeds_app = typer.Typer(invoke_without_command=True, no_args_is_help=False)

    @feeds_app.callback()
    def feeds(
        ctx: typer.Context,
        config: ConfigOption = None,
        json_output: Annotated[
            bool, typer.Option("--json", help="One JSON array instead of a table.")
        ] = False,
        enable: Annotated[
            str | None,
            typer.Option("--enable", metavar="FEED", help="Re-enable a disabled feed (its id or name)."),
        ] = None,
    ) -> None:
        """Each feed: last status, last success, items, failures, next poll, disabled reason.

        Subcommands add, list, remove and test manage a workspace's chat feeds (as /feed does).
        """
        if ctx.invoked_subcommand is not None:
            return
        from bot.app.tools import bot_clock, feed_states

        env, cfg = load(config)
        clock = bot_clock(env)
        try:
            states = asyncio.run(feed_states(env, cfg, enable=enable))
        except StoreError as exc:
            fail(str(exc), EXIT_USAGE)
        except BotError as exc:
            fail(str(exc))
        now = clock.now()
        rows = feed_rows(states, now)
        if json_output:
            typer.echo(json.dumps(rows, indent=2))
            return
        if enable is not None:
            typer.echo(
                f"re-enabled {enable}: a running bot polls it again at its next scheduled tick", err=True
            )
        typer.echo(render(rows, now))

    register_feeds(feeds_app)
    app.add_typer(feeds_app, name="feeds")

"""CLI commands for the delivery area: ``marketbot subscriptions``.

Shows every subscription (from the config and from chat) with its state — a broken one with
the reason and what to do — its options, its last delivery and how many alerts are queued,
held (quiet hours, mutes, hourly caps) and failed. ``--json`` prints one JSON array.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer

from bot.cli.common import EXIT_USAGE, ConfigOption, fail, handle_errors, load
from bot.domain.codec import dt_out, options_to_dict
from bot.domain.errors import BotError, StoreError
from bot.domain.models import Subscription, SubscriptionOptions
from bot.domain.records import ChannelStats, PlatformPause


def options_text(o: SubscriptionOptions, tz: ZoneInfo) -> str:
    """The options that differ from the defaults, in words: ``quiet 22:00-06:00, max 10/h``."""
    parts = []
    if o.quiet_hours:
        parts.append(f"quiet {o.quiet_hours}")
    if o.max_per_hour is not None:
        parts.append(f"max {o.max_per_hour}/h")
    if o.min_move_pct is not None:
        parts.append(f"moves ≥ {o.min_move_pct:g}%")
    if o.sessions:
        parts.append("sessions " + "/".join(s.value for s in o.sessions))
    if o.mute_until is not None:
        parts.append(f"muted until {o.mute_until.astimezone(tz):%Y-%m-%d %H:%M %Z}")
    if not o.threads:
        parts.append("no threads")
    if o.briefing != "none":
        parts.append(f"briefing {o.briefing}")
    return ", ".join(parts)


def repair_hint(sub: Subscription) -> str:
    """What a user does about a broken subscription (nothing repairs one silently)."""
    again = " (or /watch subscribe again in the channel)" if sub.origin == "chat" else ""
    return (
        "fix the channel or the bot's access (invite the bot to the channel, check its token), "
        f"then run `marketbot subscriptions --repair {sub.id}`{again}"
    )


def pause_text(pause: PlatformPause, tz: ZoneInfo) -> str:
    """A paused platform in words: since when, why and what to fix."""
    return (
        f"{pause.platform} delivery paused since {pause.since.astimezone(tz):%Y-%m-%d %H:%M %Z}: "
        f"{pause.reason}. Alerts stay queued and go out by themselves once {pause.platform.title()} "
        "accepts the credentials again (checked with backoff, and at once on restart)"
    )


def subscription_rows(
    subs: Sequence[Subscription],
    stats: Mapping[int, ChannelStats],
    tz: ZoneInfo,
    pauses: Mapping[str, PlatformPause] | None = None,
) -> list[dict[str, Any]]:
    """One JSON-ready record per subscription: state, reason, options, last delivery, counts.

    ``platform_paused`` is set when the subscription's whole platform rejects the bot's
    credentials: its alerts wait, and nothing about the subscription itself needs repair.
    """
    rows = []
    pauses = pauses or {}
    for s in subs:
        st = stats.get(s.id, ChannelStats(subscription_id=s.id))
        pause = pauses.get(s.channel.platform)
        rows.append(
            {
                "id": s.id,
                "channel": str(s.channel),
                "watchlist": s.watchlist,
                "scope": s.scope,
                "origin": s.origin,
                "state": s.state,
                "broken_reason": s.broken_reason,
                "fix": repair_hint(s) if s.state == "broken" else None,
                "created_by": s.created_by,
                "options": options_to_dict(s.options),
                "options_text": options_text(s.options, tz),
                "last_delivery_at": dt_out(st.last_delivery_at),
                "queued": st.queued,
                "held": st.held,
                "failed": st.failed,
                "platform_paused": {
                    "since": dt_out(pause.since),
                    "reason": pause.reason,
                    "setting": pause.setting,
                    "text": pause_text(pause, tz),
                }
                if pause is not None
                else None,
            }
        )
    return rows


def render(rows: Sequence[Mapping[str, Any]], tz: ZoneInfo) -> str:
    """A plain-text table; broken subscriptions get their reason and the fix underneath."""
    if not rows:
        return (
            "no subscriptions: add them under `subscriptions:` in the config, "
            "or use /watch subscribe in a Slack or Discord channel"
        )
    head = (
        "ID",
        "CHANNEL",
        "WATCHLIST",
        "ORIGIN",
        "STATE",
        "LAST DELIVERY",
        "QUEUED",
        "HELD",
        "FAILED",
        "OPTIONS",
    )
    table = [head]
    for r in rows:
        last = r["last_delivery_at"]
        when = datetime.fromisoformat(last).astimezone(tz).strftime("%Y-%m-%d %H:%M %Z") if last else "never"
        table.append(
            (
                str(r["id"]),
                r["channel"],
                r["watchlist"] if r["scope"] == "config" else f"{r['watchlist']} ({r['scope']})",
                r["origin"],
                r["state"],
                when,
                str(r["queued"]),
                str(r["held"]),
                str(r["failed"]),
                r["options_text"] or "-",
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    lines = []
    for n, row in enumerate(table):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if n and rows[n - 1]["state"] == "broken":
            lines.append(f"    broken: {rows[n - 1]['broken_reason']}")
            lines.append(f"    fix: {rows[n - 1]['fix']}")
        if n and rows[n - 1].get("platform_paused"):
            lines.append(
                f"    paused: {rows[n - 1]['channel'].split(':', 1)[0]} rejects the bot's credentials"
            )
    notes = {r["platform_paused"]["text"] for r in rows if r.get("platform_paused")}
    if notes:
        lines.append("")
        lines.extend(sorted(notes))
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    """Add this area's subcommands to the main app."""

    from bot.cli.admin import register_subscriptions

    subs_app = typer.Typer(invoke_without_command=True, no_args_is_help=False)

    @subs_app.callback()
    def subscriptions(
        ctx: typer.Context,
        config: ConfigOption = None,
        json_output: Annotated[bool, typer.Option("--json", help="Print one JSON array.")] = False,
        repair: Annotated[
            int | None,
            typer.Option(
                "--repair",
                metavar="ID",
                help="Mark a broken subscription active again, once its channel or access is fixed.",
            ),
        ] = None,
    ) -> None:
        """List subscriptions: state (and why one is broken), last delivery, queued/held/failed alerts.

        `subscriptions set PLATFORM:CHANNEL WATCHLIST [OPTIONS]...` subscribes a channel with options
        (as /watch subscribe does).
        """
        if ctx.invoked_subcommand is not None:
            return
        from bot.app.tools import subscription_state

        env, cfg = load(config)
        try:
            state = asyncio.run(subscription_state(env, cfg, repair=repair))
            rows = subscription_rows(state.subscriptions, state.stats, cfg.tz, state.pauses)
        except StoreError as exc:
            fail(str(exc), EXIT_USAGE)
        except BotError as exc:
            handle_errors(exc)
        if json_output:
            typer.echo(json.dumps(rows, ensure_ascii=False, indent=None))
        else:
            typer.echo(render(rows, cfg.tz))

    register_subscriptions(subs_app)
    app.add_typer(subs_app, name="subscriptions")

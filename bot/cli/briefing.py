"""CLI commands for the briefing area: ``marketbot briefing``.

Prints the pre-market briefing that would be sent at a given time, built exactly as the bot
builds it (``bot.delivery.briefing.BriefingService``): per subscription that asks for one, or
for ``--watchlist NAME`` whether or not anyone subscribes. On a closed day or after the open it
prints only the reason and exits 0 - the calendar decides before anything is opened, so that
needs no database and no network. Nothing is queued or sent.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bot.cli.common import EXIT_USAGE, ConfigOption, fail, fail_command, handle_errors, load
from bot.config import BotConfig
from bot.domain.errors import BotError

if TYPE_CHECKING:
    from bot.app.tools import BriefingPlan
    from bot.domain.models import Alert, Subscription

JSON_SHAPE = """\
{"at": ISO time, "day": "YYYY-MM-DD", "exchange": "XNYS",
 "reason": null, or why there is no briefing,
 "briefings": [
  {"subscription_id": int (null for --watchlist without one),
   "channel": "slack:C0123ABCD", "watchlist": NAME,
   "key": "briefing:<day>:<subscription id>",
   "title": str, "note": str, "stories_since": ISO time,
   "tickers": [{"symbol", "price", "previous_close", "change_pct",
                "session", "volume", "currency", "reason"}],
              (biggest move first; no price last, with its reason)
   "stories": [{"title", "link", "source", "published", "tickers"}]}]}"""


def parse_at(text: str, cfg: BotConfig) -> datetime:
    """An ISO time; without an offset it is wall-clock time in the config's time zone."""
    from bot.domain.timeutil import as_utc

    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        fail(
            f"--at {text!r} is not an ISO time; write e.g. 2026-11-25T08:30 ({cfg.timezone} time) "
            "or 2026-11-25T08:30:00-05:00",
            EXIT_USAGE,
        )
    if when.tzinfo is None:
        when = when.replace(tzinfo=cfg.tz)
    return as_utc(when)


def briefing_json(sub: Subscription, plan: BriefingPlan) -> dict[str, Any]:
    """One briefing as the documented JSON record."""
    from bot.domain.codec import dt_out

    alert = plan.alert
    assert alert is not None
    tickers = []
    for t in alert.tickers:
        q = t.quote
        tickers.append(
            {
                "symbol": t.symbol,
                "price": q.price if q else None,
                "previous_close": q.previous_close if q else None,
                "change_pct": round(q.change_pct, 4) if q and q.change_pct is not None else None,
                "session": q.session.value if q and q.session else None,
                "volume": q.volume if q else None,
                "currency": q.currency if q else None,
                "reason": None if q else plan.missing.get(t.symbol, "price unavailable"),
            }
        )
    return {
        "subscription_id": sub.id or None,
        "channel": str(sub.channel),
        "watchlist": alert.watchlist,
        "key": alert.key,
        "title": alert.title,
        "note": alert.note,
        "stories_since": dt_out(plan.since),
        "tickers": tickers,
        "stories": [
            {
                "title": e.title,
                "link": e.link,
                "source": e.source,
                "published": dt_out(e.published_at),
                "tickers": list(e.tickers),
            }
            for e in alert.entries
        ],
    }


def register(app: typer.Typer) -> None:
    """Add this area's subcommands to the main app."""

    @app.command(epilog="JSON shape (--json):\n\n" + JSON_SHAPE)
    def briefing(
        watchlist: Annotated[
            str | None,
            typer.Option(
                "--watchlist",
                "-w",
                metavar="NAME",
                help="Only this watchlist, even if nobody subscribes to it.",
            ),
        ] = None,
        at: Annotated[
            str | None,
            typer.Option(
                "--at",
                metavar="ISO-TIME",
                help="When (default: now). Without an offset it is the config's time zone, "
                "e.g. 2026-11-25T08:30 or 2026-11-25T08:30:00-05:00.",
            ),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object (shape below).")] = False,
        config: ConfigOption = None,
    ) -> None:
        """Print the pre-market briefing that would be sent at a time; on a closed day, the reason.

        One per subscription with `briefing: premarket` (or /watch subscribe NAME
        briefing): the tickers by the size of their pre-market move, then the top
        stories since the previous close. Prices are Yahoo Finance's current ones;
        --at sets the calendar, the session labels and the story window.
        Nothing is sent.
        """
        from bot.app.tools import ExchangeCalendar, briefing_plans, closed_reason, exchange_name, print_alerts
        from bot.domain.timeutil import utcnow

        env, cfg = load(config)
        when = parse_at(at, cfg) if at else (env.now or utcnow())
        try:
            calendar = ExchangeCalendar(cfg.market.exchange)
            reason = closed_reason(calendar, when, cfg.tz)
            day = calendar.local_day(when)
        except BotError as exc:
            handle_errors(exc)
        alerts: list[Alert] = []
        payload: dict[str, Any] = {
            "at": when.isoformat(),
            "day": day.isoformat(),
            "exchange": calendar.exchange,
            "reason": reason,
            "briefings": [],
        }
        if reason is None:
            try:
                plans = asyncio.run(briefing_plans(env, cfg, when, watchlist))
            except BotError as exc:
                fail_command(exc)
            ready = [(s, p) for s, p in plans if p.alert is not None]
            if not plans:
                reason = (
                    f"no subscription asks for a pre-market briefing: add `briefing: premarket` to one in "
                    f"the config, use /watch subscribe NAME briefing in a channel, or preview one with "
                    f"--watchlist NAME ({exchange_name(calendar.exchange)} trades on {day.isoformat()})"
                )
            elif not ready:
                reason = "; ".join(dict.fromkeys(p.reason for _, p in plans))
            payload["reason"] = reason
            payload["briefings"] = [briefing_json(s, p) for s, p in ready]
            alerts = [p.alert for _, p in ready if p.alert is not None]
        if as_json:
            typer.echo(json.dumps(payload, ensure_ascii=False, indent=2))
            return
        if not alerts:
            typer.echo(payload["reason"])
            return
        asyncio.run(print_alerts(alerts, when))

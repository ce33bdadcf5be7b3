"""CLI commands for the market area: ``marketbot quote`` and ``marketbot session``.

``quote`` asks Yahoo Finance (through yfinance; ``MARKETBOT_YAHOO_URL`` reroutes it) and
never takes longer than ``market.quote_timeout``: a symbol without a price is a one-line
error on stderr and exit status 1. ``--status`` adds the quote source's state (endpoint,
circuit breaker, what the fetch did). ``session`` is pure calendar work, no network.
Heavy imports (yfinance, exchange_calendars, matplotlib) happen inside the commands so
the rest of the CLI starts fast.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bot.cli.common import EXIT_FAILURE, EXIT_USAGE, ConfigOption, fail
from bot.config import BotConfig, Env
from bot.domain.errors import BotError, ConfigError

if TYPE_CHECKING:
    from bot.app.tools import ExchangeCalendar
    from bot.domain.models import Quote
    from bot.domain.status import QuoteSourceStatus


def _settings(config: Path | None) -> tuple[Env, BotConfig]:
    """Environment plus config; without a config file the market defaults apply."""
    from bot.config import load_config, load_env

    try:
        env = load_env()
        path = config or env.config_path
        if config is None and not path.exists():
            return env, BotConfig()
        return env, load_config(path)
    except ConfigError as exc:
        fail(str(exc), EXIT_USAGE)


def _local(when: datetime, calendar: ExchangeCalendar, symbol: str | None = None) -> datetime:
    zone = calendar.zone(symbol) or calendar.tz
    return when.astimezone(zone)


def quote_line(q: Quote, calendar: ExchangeCalendar) -> str:
    """``AMZN  $181.20  −0.82%  pre-market  (08:30 EST, Amazon.com, Inc.)``."""
    from bot.domain.format import format_pct, format_price

    assert q.price is not None
    parts = [q.symbol, format_price(q.price, q.currency)]
    if q.change_pct is not None:
        parts.append(format_pct(q.change_pct))
    if q.session is not None:
        parts.append(str(q.session))
    extra = []
    if q.as_of is not None:
        extra.append(_local(q.as_of, calendar, q.symbol).strftime("%a %H:%M %Z"))
    if q.name:
        extra.append(q.name)
    line = "  ".join(parts)
    return f"{line}  ({', '.join(extra)})" if extra else line


def quote_json(q: Quote) -> dict[str, Any]:
    return {
        "symbol": q.symbol,
        "price": q.price,
        "previous_close": q.previous_close,
        "change": None if q.change is None else round(q.change, 6),
        "change_pct": None if q.change_pct is None else round(q.change_pct, 6),
        "session": q.session.value if q.session else None,
        "as_of": q.as_of.isoformat() if q.as_of else None,
        "currency": q.currency,
        "volume": q.volume,
        "name": q.name,
        "available": q.available,
        "reason": q.reason,
    }


def status_lines(st: QuoteSourceStatus) -> list[str]:
    b = st.breaker
    state: str = b.state
    if b.state == "open" and b.retry_at:
        state += f", retrying at {b.retry_at:%H:%M:%S} UTC"
    lines = [
        f"quote source: Yahoo Finance via yfinance, {st.endpoint} (deadline {st.timeout:g}s)",
        f"circuit breaker: {state} ({b.consecutive_failures} failures in a row; opens after {b.threshold})",
        f"requests: {st.batch_requests} batch ({st.batch_failures} failed), "
        f"{st.chart_fallbacks} chart fallbacks ({st.chart_failures} failed), "
        f"{st.extended_checks} extended-hours checks, "
        f"cache {st.cache_hits} hits / {st.cache_misses} misses",
    ]
    if st.last_round_seconds is not None:
        lines.append(f"last fetch took {st.last_round_seconds:.2f}s")
    lines.append(f"last error: {st.last_error or b.last_error or 'none'}")
    return lines


def register(app: typer.Typer) -> None:
    """Add this area's subcommands to the main app."""

    @app.command()
    def quote(
        symbols: Annotated[
            list[str] | None, typer.Argument(help="Ticker symbols, e.g. AAPL SHOP.TO 7203.T")
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
        chart: Annotated[
            Path | None, typer.Option("--chart", help="Also write a PNG chart of the (single) symbol here.")
        ] = None,
        status: Annotated[
            bool,
            typer.Option(
                "--status", help="Show the quote source's state (breaker, requests); probes SPY if no symbol."
            ),
        ] = False,
        config: ConfigOption = None,
    ) -> None:
        """Last price, change against the previous close, and session (pre-market / regular / after hours / closed)."""
        from bot.app.tools import ExchangeCalendar, fetch_quotes, normalize_symbol

        wanted = list(dict.fromkeys(normalize_symbol(s) for s in symbols or [] if s.strip()))
        if not wanted and not status:
            fail("give at least one symbol, e.g. marketbot quote AAPL MSFT", EXIT_USAGE)
        if chart is not None and len(wanted) != 1:
            fail(
                "--chart draws one symbol: give exactly one, e.g. marketbot quote AMZN --chart amzn.png",
                EXIT_USAGE,
            )
        env, cfg = _settings(config)
        try:
            result = asyncio.run(fetch_quotes(env, cfg, wanted or ["SPY"], chart=chart is not None))
        except BotError as exc:
            fail(str(exc))
        quotes, png, chart_error, st = result.quotes, result.png, result.chart_error, result.status
        calendar = ExchangeCalendar(cfg.market.exchange)
        if as_json:
            payload: Any = [quote_json(q) for q in quotes.values()]
            if status:
                payload = {"quotes": payload, "status": json.loads(json.dumps(_asdict(st), default=str))}
            typer.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        else:
            for q in quotes.values():
                if q.available:
                    typer.echo(quote_line(q, calendar))
            if status:
                for line in status_lines(st):
                    typer.echo(line)
        if png is not None and chart is not None:
            try:
                chart.write_bytes(png)
            except OSError as exc:
                fail(f"cannot write the chart to {chart}: {exc.strerror or exc}")
            if not as_json:
                typer.echo(f"chart written to {chart}")
        missing = [q for q in quotes.values() if not q.available]
        if missing:
            by_reason: dict[str, list[str]] = {}
            for q in missing:
                by_reason.setdefault(_short_reason(q), []).append(q.symbol)
            message = "; ".join(
                f"no price for {', '.join(syms)}: {reason}" for reason, syms in by_reason.items()
            )
            fail(message, EXIT_FAILURE)
        if chart_error:
            fail(chart_error, EXIT_FAILURE)

    @app.command()
    def session(
        at: Annotated[
            str | None,
            typer.Option(
                "--at", help="ISO time; without an offset it is the exchange's local time (default: now)."
            ),
        ] = None,
        symbol: Annotated[
            str | None, typer.Option("--symbol", help="Use this symbol's exchange, e.g. SHOP.TO or 7203.T.")
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
        config: ConfigOption = None,
    ) -> None:
        """Which trading session is on (pre-market, regular, after hours, closed) and what comes next. No network."""
        from bot.app.tools import ExchangeCalendar
        from bot.domain.timeutil import utcnow

        _env, cfg = _settings(config)
        try:
            calendar = ExchangeCalendar(cfg.market.exchange)
        except BotError as exc:
            fail(str(exc), EXIT_USAGE)
        when = _parse_at(at, calendar, symbol) if at else utcnow()
        try:
            info = describe_session(calendar, when, symbol)
        except BotError as exc:
            fail(str(exc))
        if as_json:
            typer.echo(json.dumps(info, indent=2))
            return
        for line in info["lines"]:
            typer.echo(line)


def _short_reason(q: Quote) -> str:
    reason = q.reason or "price unavailable"
    return reason.removeprefix("price unavailable: ").removeprefix(f"{q.symbol}: ")


def _asdict(obj: Any) -> Any:
    from dataclasses import asdict, is_dataclass

    return asdict(obj) if is_dataclass(obj) and not isinstance(obj, type) else obj


def _parse_at(text: str, calendar: ExchangeCalendar, symbol: str | None) -> datetime:
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        fail(
            f"--at {text!r} is not an ISO time; write e.g. 2026-11-27T08:30 (exchange time) or 2026-11-27T13:30Z",
            EXIT_USAGE,
        )
    if when.tzinfo is None:
        when = when.replace(tzinfo=calendar.zone(symbol) or calendar.tz)
    return when


def describe_session(calendar: ExchangeCalendar, when: datetime, symbol: str | None) -> dict[str, Any]:
    """Everything ``marketbot session`` prints, as data (the text lines included)."""
    from bot.domain.models import TradingSession
    from bot.domain.timeutil import as_utc

    when = as_utc(when)
    code = calendar.exchange_of(symbol)
    subject = symbol.upper() if symbol else code
    if code is None:
        return {
            "symbol": subject,
            "exchange": None,
            "at": when.isoformat(),
            "session": None,
            "lines": [f"{subject}: no trading calendar for its exchange, so quotes carry no session label"],
        }
    zone = calendar.zone(symbol) or calendar.tz
    local = when.astimezone(zone)
    day = local.date()
    if not calendar.in_range(day, symbol):
        fail(f"{day.isoformat()} is outside the {code} trading calendar; pick a date within a year from now")
    current = calendar.session_at(when, symbol)
    times = calendar.session_times(day, symbol)
    what = str(current) if current else "no label"
    if current == TradingSession.CLOSED:
        holiday = calendar.holiday_name(day, symbol)
        if holiday:
            what += f" ({holiday})"
        elif times is None:
            what += " (weekend)" if day.weekday() >= 5 else ""
        elif when < times.starts:
            what += " (not open yet)"
        elif times.break_start and times.break_end and times.break_start <= when < times.break_end:
            what += " (lunch break)"
        else:
            what += " (for the day)"
    lines = [f"{code} at {local:%a %d %b %Y %H:%M %Z}: {what}"]
    change, nxt = calendar.next_change(when, symbol)
    lines.append(f"next: {nxt} at {change.astimezone(zone):%a %d %b %H:%M %Z}")
    show = times if times is not None and when < times.ends else None
    if show is None:
        show = calendar.session_times(calendar.next_trading_day(day, symbol), symbol)
    assert show is not None
    lines.append(_day_line(show, zone))
    return {
        "symbol": subject,
        "exchange": code,
        "at": when.isoformat(),
        "session": current.value if current else None,
        "next_change": change.isoformat(),
        "next_session": nxt.value,
        "day": show.day.isoformat(),
        "pre_open": show.pre_open.isoformat() if show.pre_open else None,
        "open": show.open.isoformat(),
        "close": show.close.isoformat(),
        "post_close": show.post_close.isoformat() if show.post_close else None,
        "early_close": show.early_close,
        "lines": lines,
    }


def _day_line(t: Any, zone: Any) -> str:
    def hm(d: datetime) -> str:
        return d.astimezone(zone).strftime("%H:%M")

    parts = []
    if t.pre_open:
        parts.append(f"pre-market {hm(t.pre_open)}")
    parts.append(f"open {hm(t.open)}")
    if t.break_start and t.break_end:
        parts.append(f"lunch break {hm(t.break_start)}-{hm(t.break_end)}")
    parts.append(f"{'early close' if t.early_close else 'close'} {hm(t.close)}")
    if t.post_close:
        parts.append(f"after hours until {hm(t.post_close)}")
    return f"{t.open.astimezone(zone):%a %d %b}: " + ", ".join(parts) + f" {t.open.astimezone(zone):%Z}"

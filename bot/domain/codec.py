"""JSON-safe encoding of domain values (for the outbox, the store and ``--json`` output)."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from bot.domain.models import (
    Alert,
    ChannelRef,
    DigestEntry,
    QuietHours,
    Quote,
    SubscriptionOptions,
    TickerLine,
    TradingSession,
)
from bot.domain.timeutil import as_utc


def dt_out(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with an explicit offset, or None."""
    return as_utc(value).isoformat() if value is not None else None


def dt_in(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return as_utc(value)
    return as_utc(datetime.fromisoformat(str(value)))


def quote_to_dict(q: Quote) -> dict[str, Any]:
    return {
        "symbol": q.symbol,
        "price": q.price,
        "previous_close": q.previous_close,
        "change": q.change,
        "change_pct": q.change_pct,
        "session": q.session.value if q.session else None,
        "as_of": dt_out(q.as_of),
        "currency": q.currency,
        "volume": q.volume,
        "name": q.name,
    }


def quote_from_dict(d: dict[str, Any]) -> Quote:
    return Quote(
        symbol=str(d["symbol"]),
        price=d.get("price"),
        previous_close=d.get("previous_close"),
        change=d.get("change"),
        change_pct=d.get("change_pct"),
        session=TradingSession(d["session"]) if d.get("session") else None,
        as_of=dt_in(d.get("as_of")),
        currency=d.get("currency"),
        volume=d.get("volume"),
        name=d.get("name"),
    )


def alert_to_dict(a: Alert) -> dict[str, Any]:
    """Encode an Alert as plain JSON types (round-trips through ``alert_from_dict``)."""
    return {
        "key": a.key,
        "kind": a.kind,
        "channel": {
            "platform": a.channel.platform,
            "channel": a.channel.channel,
            "workspace": a.channel.workspace,
        },
        "watchlist": a.watchlist,
        "watchlists": list(a.watchlists),
        "title": a.title,
        "link": a.link,
        "source": a.source,
        "published_at": dt_out(a.published_at),
        "summary": a.summary,
        "tickers": [
            {
                "symbol": t.symbol,
                "in_watchlist": t.in_watchlist,
                "quote": quote_to_dict(t.quote) if t.quote else None,
            }
            for t in a.tickers
        ],
        "terms": list(a.terms),
        "story_id": a.story_id,
        "entries": [
            {
                "title": e.title,
                "link": e.link,
                "source": e.source,
                "published_at": dt_out(e.published_at),
                "tickers": list(e.tickers),
            }
            for e in a.entries
        ],
        "note": a.note,
        "thread_of": a.thread_of,
        "late": a.late,
        "created_at": dt_out(a.created_at),
    }


def channel_from_dict(ch: dict[str, Any]) -> ChannelRef:
    """A stored alert's ``channel`` object as a ChannelRef."""
    return ChannelRef(ch["platform"], ch["channel"], ch.get("workspace"))


def alert_from_dict(d: dict[str, Any]) -> Alert:
    return Alert(
        key=d["key"],
        kind=d["kind"],
        channel=channel_from_dict(d["channel"]),
        watchlist=d.get("watchlist", ""),
        watchlists=tuple(d.get("watchlists") or ()),
        title=d.get("title", ""),
        link=d.get("link", ""),
        source=d.get("source", ""),
        published_at=dt_in(d.get("published_at")),
        summary=d.get("summary", ""),
        tickers=tuple(
            TickerLine(
                symbol=t["symbol"],
                quote=quote_from_dict(t["quote"]) if t.get("quote") else None,
                in_watchlist=t.get("in_watchlist", True),
            )
            for t in d.get("tickers", ())
        ),
        terms=tuple(d.get("terms", ())),
        story_id=d.get("story_id"),
        entries=tuple(
            DigestEntry(
                title=e["title"],
                link=e.get("link", ""),
                source=e.get("source", ""),
                published_at=dt_in(e.get("published_at")),
                tickers=tuple(e.get("tickers", ())),
            )
            for e in d.get("entries", ())
        ),
        note=d.get("note", ""),
        thread_of=d.get("thread_of"),
        late=bool(d.get("late", False)),
        created_at=dt_in(d.get("created_at")),
    )


def options_to_dict(o: SubscriptionOptions) -> dict[str, Any]:
    return {
        "quiet_hours": str(o.quiet_hours) if o.quiet_hours else None,
        "max_per_hour": o.max_per_hour,
        "min_move_pct": o.min_move_pct,
        "sessions": [s.value for s in o.sessions],
        "mute_until": dt_out(o.mute_until),
        "threads": o.threads,
        "briefing": o.briefing,
    }


def _parse_hhmm(text: str) -> time:
    h, m = text.split(":")
    return time(int(h), int(m))


def options_from_dict(d: dict[str, Any] | None) -> SubscriptionOptions:
    if not d:
        return SubscriptionOptions()
    qh = d.get("quiet_hours")
    quiet = None
    if qh:
        start, end = str(qh).split("-")
        quiet = QuietHours(_parse_hhmm(start), _parse_hhmm(end))
    return SubscriptionOptions(
        quiet_hours=quiet,
        max_per_hour=d.get("max_per_hour"),
        min_move_pct=d.get("min_move_pct"),
        sessions=tuple(TradingSession(s) for s in d.get("sessions", ())),
        mute_until=dt_in(d.get("mute_until")),
        threads=bool(d.get("threads", True)),
        briefing=d.get("briefing", "none"),
    )

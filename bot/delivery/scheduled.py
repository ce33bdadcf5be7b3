"""What the scheduled alerts (pre-market briefings, price-move alerts) share.

Both read watchlists from the catalog, name days and times in the bot's zone, and queue one
alert per subscription under a unique key: held (quiet hours, a mute) or pending, with a repeat
of the key (another process, or before a restart) counted as a duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.delivery.compose import hold_reason
from bot.domain.models import Alert, Subscription, Watchlist
from bot.domain.records import OutboxEntry, OutboxStatus
from bot.domain.rules import Matcher, TermKind, parse_query, parse_term
from bot.domain.rules.query import iter_terms
from bot.domain.timeutil import as_utc
from bot.ports import OutboxStore


def short_day(d: date) -> str:
    """``Wed 25 Nov``."""
    return f"{d:%a} {d.day} {d:%b}"


def clock_time(when: datetime, tz: ZoneInfo) -> str:
    """``09:30 EST`` in ``tz``."""
    return as_utc(when).astimezone(tz).strftime("%H:%M %Z")


class WatchlistCatalog(Protocol):
    """What briefings and move alerts read from ``bot.catalog.Catalog``."""

    @property
    def matcher(self) -> Matcher: ...

    def get(self, scope: str, name: str) -> Watchlist | None: ...


def watchlist_symbols(w: Watchlist) -> list[str]:
    """The tickers a watchlist watches: its tickers, ``$SYM`` keywords and un-negated query tickers."""
    found: dict[str, None] = dict.fromkeys(t.upper() for t in w.tickers)
    for text in w.keywords:
        try:
            term = parse_term(text)
        except Exception:  # stored before validation got stricter: it matches nothing then either
            continue
        if term.kind is TermKind.TICKER:
            found.setdefault(term.symbol.upper())
    if w.query:
        try:
            query = parse_query(w.query)
        except Exception:
            return list(found)
        for term, negated in iter_terms(query.root):
            if term.kind is TermKind.TICKER and not negated:
                found.setdefault(term.symbol.upper())
    return list(found)


@dataclass(frozen=True, slots=True)
class Queued:
    """How queueing one scheduled alert went: ``queued`` False means the key was already there."""

    queued: bool
    status: OutboxStatus
    hold: str | None  # why it is held (a mute, quiet hours), or None when it is pending


async def queue_scheduled(
    store: OutboxStore, sub: Subscription, alert: Alert, *, key: str, now: datetime, tz: ZoneInfo
) -> Queued:
    """Queue ``alert`` for ``sub`` under ``key``: held while the subscription is muted or quiet."""
    hold = hold_reason(sub, now, tz)
    status: OutboxStatus = "held" if hold else "pending"
    entry = OutboxEntry(
        key=key, alert=alert, subscription_id=sub.id, due_at=now, status=status, created_at=now
    )
    queued = await store.enqueue([entry])
    return Queued(bool(queued), status, hold)

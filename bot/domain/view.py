"""What a user reads in an alert or a quote, once for every platform.

Renderers (Slack Block Kit, Discord embeds, the console) take these views and only translate
syntax and limits: escaping, links, bold, field sizes. Every user-facing word of an alert lives
here, so the three platforms say the same thing: the price line and why a price is missing, the
source and age line, which watchlists matched, "Also reported by …", digest and briefing lines.
Ages are computed against the ``now`` the caller passes (the bot's clock, never the wall clock).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from bot.domain.format import arrow, format_pct, format_price, session_label
from bot.domain.models import Alert, DigestEntry, Quote, TickerLine
from bot.domain.text import strip_control
from bot.domain.timeutil import format_age

Direction = Literal["up", "down", "flat", "none"]

UNAVAILABLE = "price unavailable"


@dataclass(frozen=True, slots=True)
class PriceView:
    """One ticker's price as words: ``AMZN``, ``$181.20``, ``−0.82%``, ``pre-market``.

    ``unavailable`` is empty when there is a price, else ``price unavailable`` with the reason the
    quote source gave (``price unavailable (Yahoo is not answering)``).
    """

    symbol: str
    name: str = ""
    price: str = ""
    move: str = ""
    arrow: str = ""
    direction: Direction = "none"
    session: str = ""
    unavailable: str = ""
    in_watchlist: bool = True

    @property
    def available(self) -> bool:
        return not self.unavailable

    def detail(self, sep: str = " · ") -> str:
        """Everything after the symbol: ``$181.20 · ▼ −0.82% · pre-market`` (or why there is none)."""
        if self.unavailable:
            return self.unavailable
        parts = [self.price]
        if self.move:
            parts.append(f"{self.arrow} {self.move}")
        if self.session:
            parts.append(self.session)
        return sep.join(parts)

    def line(self, *, with_arrow: bool = True) -> str:
        """One line: ``AMZN $181.20 ▼ −0.82% pre-market`` or ``AMZN price unavailable (…)``."""
        if self.unavailable:
            return f"{self.symbol} {self.unavailable}"
        parts = [self.symbol, self.price]
        if self.move:
            parts.append(f"{self.arrow} {self.move}" if with_arrow else self.move)
        if self.session:
            parts.append(self.session)
        return " ".join(parts)

    def short(self) -> str:
        """For a phone notification: ``AMZN −0.82% pre-market`` (empty without a move)."""
        if not self.move:
            return ""
        return " ".join(p for p in (self.symbol, self.move, self.session) if p)


def price_view(symbol: str, quote: Quote | None, *, name: str = "", in_watchlist: bool = True) -> PriceView:
    """The words for one ticker, whether or not its quote has a price."""
    if quote is None or quote.price is None:
        reason = strip_control(quote.reason or "").strip() if quote is not None else ""
        return PriceView(
            symbol=symbol,
            name=name,
            unavailable=f"{UNAVAILABLE} ({reason})" if reason else UNAVAILABLE,
            in_watchlist=in_watchlist,
        )
    pct = quote.change_pct
    direction: Direction = "none"
    if pct is not None:
        direction = "flat" if round(pct, 2) == 0 else "up" if pct > 0 else "down"
    return PriceView(
        symbol=symbol,
        name=name,
        price=format_price(quote.price, quote.currency),
        move=format_pct(pct) if pct is not None else "",
        arrow=arrow(pct) if pct is not None else "",
        direction=direction,
        session=session_label(quote.session),
        in_watchlist=in_watchlist,
    )


def quote_view(quote: Quote) -> PriceView:
    """A command's quote (``/quote AMZN``), named as the quote source names it."""
    return price_view(quote.symbol, quote, name=quote.name or "")


def ticker_view(line: TickerLine) -> PriceView:
    return price_view(line.symbol, line.quote, in_watchlist=line.in_watchlist)


@dataclass(frozen=True, slots=True)
class EntryView:
    """One headline in a digest, a briefing or a follow-up."""

    title: str
    link: str
    source: str
    age: str
    published_at: datetime | None
    tickers: tuple[str, ...]

    @property
    def outlet(self) -> str:
        """What names the outlet in "Also reported by": its source, else its headline."""
        return self.source or self.title


@dataclass(frozen=True, slots=True)
class AlertView:
    """Every user-facing string of one alert, before any platform's syntax."""

    kind: str
    title: str
    link: str
    summary: str
    note: str
    source: str
    age: str
    watchlists: str  # "watchlist cloud-china" / "watchlists cloud-china, chips"
    watchlist_names: tuple[str, ...]
    late: str  # "delayed" when the alert was held (quiet hours, caps), else ""
    prices: tuple[PriceView, ...]
    matched: tuple[str, ...]
    entries: tuple[EntryView, ...]
    outlets: tuple[EntryView, ...]  # follow-ups: the other outlets, each with its link

    def meta(self) -> tuple[str, ...]:
        """The context line's parts: source, age, watchlists, delayed."""
        return tuple(p for p in (self.source, self.age, self.watchlists, self.late) if p)

    def also_reported(self, labels: Sequence[str] | None = None) -> str:
        """``Also reported by A, B and C``; ``labels`` are the outlets as the platform links them."""
        names = list(labels) if labels is not None else [o.outlet for o in self.outlets]
        if not names:
            return self.note or self.title or "Also reported elsewhere"
        return "Also reported by " + join_names(names)

    def extra_note(self) -> str:
        """A follow-up's own note, when it says more than the outlets do."""
        return self.note if self.note and not self.note.startswith("Also reported by") else ""

    def notification(self) -> str:
        """What a phone shows: the headline, its source, and the first moves."""
        head = self.title or self.note or (self.watchlist_names[0] if self.watchlist_names else "")
        extra = f" — {self.source}" if self.source and self.kind == "story" else ""
        if self.kind in ("digest", "briefing") and self.entries:
            extra = f" ({len(self.entries)} stories)"
        moves = [m for m in (p.short() for p in self.prices[:3]) if m]
        if moves and self.kind in ("story", "move"):
            extra += " · " + ", ".join(moves)
        return f"{head}{extra}"


def join_names(names: Sequence[str]) -> str:
    """``A``, ``A and B``, ``A, B and C``."""
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"


def _clean(text: str) -> str:
    return " ".join(strip_control(text).split())


def _age(when: datetime | None, now: datetime | None) -> str:
    return format_age(when, now) if when is not None and now is not None else ""


def entry_view(entry: DigestEntry, now: datetime | None) -> EntryView:
    """``now`` None: no age in words (a platform that shows times itself, like Discord)."""
    return EntryView(
        title=_clean(entry.title),
        link=entry.link.strip(),
        source=_clean(entry.source),
        age=_age(entry.published_at, now),
        published_at=entry.published_at,
        tickers=entry.tickers,
    )


def alert_view(alert: Alert, *, now: datetime | None) -> AlertView:
    """The words of ``alert`` as of ``now`` (the bot's clock; None: no ages in words)."""
    names = alert.watchlist_names
    label = ""
    if names:
        label = ("watchlist " if len(names) == 1 else "watchlists ") + ", ".join(names)
    entries = tuple(entry_view(e, now) for e in alert.entries)
    return AlertView(
        kind=alert.kind,
        title=_clean(alert.title),
        link=alert.link.strip(),
        summary=strip_control(alert.summary).strip(),
        note=strip_control(alert.note).strip(),
        source=_clean(alert.source),
        age=_age(alert.published_at, now),
        watchlists=label,
        watchlist_names=names,
        late="delayed" if alert.late else "",
        prices=tuple(ticker_view(t) for t in alert.tickers),
        matched=tuple(_clean(t) for t in alert.terms if _clean(t)),
        entries=entries,
        outlets=tuple(e for e in entries if e.outlet) if alert.kind == "followup" else (),
    )


__all__ = [
    "UNAVAILABLE",
    "AlertView",
    "EntryView",
    "PriceView",
    "alert_view",
    "entry_view",
    "join_names",
    "price_view",
    "quote_view",
    "ticker_view",
]

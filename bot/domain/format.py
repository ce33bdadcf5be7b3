"""Plain-text formatting of prices and moves, shared by every renderer."""

from __future__ import annotations

from bot.domain.models import Quote, TickerLine, TradingSession

MINUS = "\u2212"
UP, DOWN, FLAT = "▲", "▼", "■"

_CURRENCY = {
    "USD": "$",
    "CAD": "C$",
    "EUR": "€",
    "GBP": "£",
    "JPY": "¥",
    "HKD": "HK$",
    "AUD": "A$",
    "CHF": "CHF ",
}


def format_price(price: float, currency: str | None = "USD") -> str:
    """``$181.20``; sub-unit prices keep four decimals, yen and won none; pence (GBp) and
    currencies without a sign get their code."""
    if currency == "GBp":
        return f"{price:,.2f}p"
    decimals = 0 if currency in ("JPY", "KRW") and abs(price) >= 100 else 2 if abs(price) >= 1 else 4
    amount = f"{price:,.{decimals}f}"
    if currency is None:
        return f"${amount}"
    symbol = _CURRENCY.get(currency.upper())
    return f"{symbol}{amount}" if symbol else f"{amount} {currency}"


def format_pct(pct: float) -> str:
    """Signed percentage with a true minus sign: ``+1.25%``, ``−0.82%``."""
    if round(pct, 2) == 0:
        return "0.00%"
    return f"+{pct:.2f}%" if pct > 0 else f"{MINUS}{abs(pct):.2f}%"


def arrow(pct: float | None) -> str:
    if pct is None or round(pct, 2) == 0:
        return FLAT
    return UP if pct > 0 else DOWN


def session_label(session: TradingSession | None) -> str:
    """The user-facing session label (empty when there is none to give)."""
    return session.value if session else ""


def quote_text(q: Quote, *, with_arrow: bool = False) -> str:
    """``AMZN $181.20 −0.82% pre-market`` (or ``AMZN price unavailable``)."""
    if q.price is None:
        return f"{q.symbol} price unavailable"
    parts = [q.symbol, format_price(q.price, q.currency)]
    if q.change_pct is not None:
        parts.append(
            f"{arrow(q.change_pct)} {format_pct(q.change_pct)}" if with_arrow else format_pct(q.change_pct)
        )
    label = session_label(q.session)
    if label:
        parts.append(label)
    return " ".join(parts)


def ticker_line_text(line: TickerLine, *, with_arrow: bool = True) -> str:
    """A ticker line of an alert; the quote may be missing (price unavailable)."""
    if line.quote is None:
        return f"{line.symbol} price unavailable"
    return quote_text(line.quote, with_arrow=with_arrow)

"""Plain-text formatting of prices and moves, shared by every renderer."""

from __future__ import annotations

from bot.domain.models import TradingSession

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

"""Instruments: deterministic prices per symbol, day and session, with per-day overrides."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from tests.fakes.yahoo.calendars import _cal, _prev_session, _times

NO_TRADES = -1.0  # a Day override meaning "no extended-hours trades in that session"


# ---------------------------------------------------------------- instruments


@dataclass
class Day:
    """Overrides for one trading day of one instrument (None: use the generated value).

    ``pre``/``post`` are the prices of the extended-hours trades (flat through the
    session); ``NO_TRADES`` means nothing traded in that session.
    """

    close: float | None = None
    pre: float | None = None
    post: float | None = None
    volume: int | None = None


_EXCHANGE_INFO: dict[str, tuple[str, str, str, str]] = {
    # code: (yahoo exchange, fullExchangeName, market, timezone)
    "XNYS": ("NMS", "NasdaqGS", "us_market", "America/New_York"),
    "XTSE": ("TOR", "Toronto", "ca_market", "America/Toronto"),
    "XTKS": ("JPX", "Tokyo", "jp_market", "Asia/Tokyo"),
    "XLON": ("LSE", "LSE", "gb_market", "Europe/London"),
}


@dataclass
class Instrument:
    """A listed symbol the fake knows. Prices are generated from ``base`` unless overridden."""

    symbol: str
    name: str
    exchange: str = "XNYS"
    currency: str = "USD"
    base: float = 100.0
    quote_type: str = "EQUITY"
    days: dict[date, Day] = field(default_factory=dict)
    delisted: bool = False
    halted_at: datetime | None = None
    short_name: str | None = None  # Yahoo's shortName when it differs from longName (``name``)

    @property
    def extended(self) -> bool:
        return self.exchange == "XNYS" and self.quote_type in ("EQUITY", "ETF")

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(str(_cal(self.exchange).tz))

    def _rand(self, day: date, salt: str) -> float:
        h = hashlib.sha256(f"{self.symbol}:{day.isoformat()}:{salt}".encode()).digest()
        return int.from_bytes(h[:8], "big") / 2**64  # [0, 1)

    def close_on(self, day: date) -> float:
        """The regular close of ``day`` (a trading day)."""
        d = self.days.get(day)
        if d is not None and d.close is not None:
            return d.close
        wave = 0.08 * math.sin(day.toordinal() / 9.0 + self._rand(date(2000, 1, 1), "phase") * 6.28)
        noise = (self._rand(day, "close") - 0.5) * 0.03
        return round(self.base * (1 + wave + noise), 2)

    def pre_price(self, day: date) -> float | None:
        d = self.days.get(day)
        if d is not None and d.pre is not None:
            return None if d.pre == NO_TRADES else d.pre
        prev = self.close_on(_prev_session(self.exchange, day))
        return round(prev * (1 + (self._rand(day, "pre") - 0.5) * 0.02), 2)

    def post_price(self, day: date) -> float | None:
        d = self.days.get(day)
        if d is not None and d.post is not None:
            return None if d.post == NO_TRADES else d.post
        return round(self.close_on(day) * (1 + (self._rand(day, "post") - 0.5) * 0.015), 2)

    def open_on(self, day: date) -> float:
        return self.pre_price(day) or self.close_on(_prev_session(self.exchange, day))

    def regular_price(self, day: date, when: datetime) -> float:
        """The regular-session price path: open -> close with a deterministic wiggle."""
        t = _times(self.exchange, day)
        assert t is not None
        if when >= t.close:
            return self.close_on(day)
        span = (t.close - t.open).total_seconds()
        x = max(0.0, min(1.0, (when - t.open).total_seconds() / span))
        o, c = self.open_on(day), self.close_on(day)
        wiggle = 0.004 * o * math.sin(x * math.pi * 7 + self._rand(day, "w") * 6.28) * math.sin(x * math.pi)
        return round(o + (c - o) * x + wiggle, 4)

    def volume_on(self, day: date) -> int:
        d = self.days.get(day)
        if d is not None and d.volume is not None:
            return d.volume
        return int(1_000_000 + self._rand(day, "v") * 40_000_000)


DEFAULT_INSTRUMENTS = (
    Instrument("AAPL", "Apple Inc.", base=230.0),
    Instrument("AMZN", "Amazon.com, Inc.", base=185.0),
    Instrument("MSFT", "Microsoft Corporation", base=420.0),
    Instrument("NVDA", "NVIDIA Corporation", base=140.0),
    Instrument("TSLA", "Tesla, Inc.", base=250.0),
    Instrument("SPY", "SPDR S&P 500 ETF Trust", base=590.0, quote_type="ETF"),
    Instrument("SHOP.TO", "Shopify Inc.", exchange="XTSE", currency="CAD", base=150.0),
    Instrument("7203.T", "TOYOTA MOTOR CORP", exchange="XTKS", currency="JPY", base=2800.0),
)

"""Trading sessions from exchange_calendars: pre-market, regular, after hours, closed.

US listings (``XNYS``, which exchange_calendars also uses for Nasdaq; on Yahoo every symbol
without an exchange suffix is a US listing) have extended hours: pre-market from 04:00 ET to the open, after hours from the
close until four hours later - 20:00 ET on a normal day, 17:00 ET after a 13:00 early close
(the Nasdaq / NYSE Arca rule). Other exchanges get their regular session only (with lunch
breaks where the exchange has one) and symbols whose exchange we cannot tell get no label
at all: a missing label is better than a wrong one.
"""

from __future__ import annotations

import functools
import re
import threading
import warnings
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain.errors import ValidationError
from bot.domain.models import TradingSession
from bot.domain.timeutil import as_utc

# Yahoo Finance symbol suffix -> exchange_calendars code. Only suffixes whose exchange has
# its own calendar here: a suffix we do not know gets no session label rather than New York's.
SUFFIX_EXCHANGES: dict[str, str] = {
    "TO": "XTSE",  # Toronto
    "V": "XTSE",  # TSX Venture: same hours and holidays as Toronto
    "T": "XTKS",  # Tokyo
    "L": "XLON",  # London
    "IL": "XLON",  # London international order book
    "HK": "XHKG",  # Hong Kong
    "DE": "XETR",  # Xetra
    "F": "XFRA",  # Frankfurt
    "DU": "XDUS",  # Dusseldorf
    "HM": "XHAM",  # Hamburg
    "SG": "XSTU",  # Stuttgart
    "AX": "XASX",  # Australia
    "PA": "XPAR",  # Euronext Paris
    "AS": "XAMS",  # Euronext Amsterdam
    "BR": "XBRU",  # Euronext Brussels
    "LS": "XLIS",  # Euronext Lisbon
    "IR": "XDUB",  # Euronext Dublin
    "MI": "XMIL",  # Borsa Italiana
    "MC": "XMAD",  # Madrid
    "SW": "XSWX",  # SIX Swiss
    "ST": "XSTO",  # Stockholm
    "OL": "XOSL",  # Oslo
    "CO": "XCSE",  # Copenhagen
    "HE": "XHEL",  # Helsinki
    "VI": "XWBO",  # Vienna
    "IS": "XIST",  # Istanbul
    "TA": "XTAE",  # Tel Aviv
    "NZ": "XNZE",  # New Zealand
    "KS": "XKRX",  # Korea (KOSPI)
    "KQ": "XKRX",  # Korea (KOSDAQ): same exchange and hours
    "TW": "XTAI",  # Taiwan
    "SS": "XSHG",  # Shanghai
    "SI": "XSES",  # Singapore
    "JO": "XJSE",  # Johannesburg
    "MX": "XMEX",  # Mexico
    "SA": "BVMF",  # B3 Sao Paulo
    "BO": "XBOM",  # Bombay
    "JK": "XIDX",  # Indonesia
    "KL": "XKLS",  # Malaysia
    "BK": "XBKK",  # Thailand
    "WA": "XWAR",  # Warsaw
    "PR": "XPRA",  # Prague
    "BD": "XBUD",  # Budapest
    "AT": "ASEX",  # Athens
    "IC": "XICE",  # Iceland
    "SN": "XSGO",  # Santiago
    "BA": "XBUE",  # Buenos Aires
}

# ``BTC-USD``, ``ETH-EUR``: Yahoo's crypto pairs trade around the clock, no exchange session.
_CRYPTO_QUOTE = frozenset({"USD", "USDT", "USDC", "EUR", "GBP", "JPY", "CAD", "AUD", "BTC", "ETH"})
_SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9.\-=^]*$")

US = "XNYS"
NEW_YORK = ZoneInfo("America/New_York")
PRE_OPEN = time(4, 0)
POST_HOURS = timedelta(hours=4)  # after hours end 4 h after the close: 20:00, or 17:00 after a 13:00 close
REGULAR_POST_CLOSE = time(20, 0)


@dataclass(frozen=True, slots=True)
class SessionTimes:
    """One trading day of one exchange, as tz-aware UTC instants.

    ``pre_open``/``post_close`` are None where the exchange has no extended hours;
    ``break_start``/``break_end`` bound a lunch break (Tokyo, Hong Kong, Shanghai).
    """

    day: date
    exchange: str
    open: datetime
    close: datetime
    pre_open: datetime | None = None
    post_close: datetime | None = None
    break_start: datetime | None = None
    break_end: datetime | None = None
    early_close: bool = False

    @property
    def starts(self) -> datetime:
        """When the first session of the day (pre-market if any) begins."""
        return self.pre_open or self.open

    @property
    def ends(self) -> datetime:
        """When the last session of the day (after hours if any) ends."""
        return self.post_close or self.close

    def session_at(self, when: datetime) -> TradingSession:
        """Which part of this day ``when`` falls in (CLOSED outside all of them)."""
        if self.open <= when < self.close:
            if self.break_start and self.break_end and self.break_start <= when < self.break_end:
                return TradingSession.CLOSED
            return TradingSession.REGULAR
        if self.pre_open and self.pre_open <= when < self.open:
            return TradingSession.PRE
        if self.post_close and self.close <= when < self.post_close:
            return TradingSession.POST
        return TradingSession.CLOSED


# One heavy import at a time across worker threads: a calendar build (a warm-up thread and a
# caller share it) swaps the process-wide warning filters with ``catch_warnings``, which would
# drop the filters another thread's imports add meanwhile (yfinance's, see bot.market.yahoo).
IMPORT_LOCK = threading.Lock()
_XCAL_LOCK = IMPORT_LOCK


def _xcal(code: str) -> Any:
    """An exchange_calendars calendar (importing the library and building one takes most of
    a second, so each is built once; a second caller waits for the first one's build)."""
    with _XCAL_LOCK:
        try:
            return _build_xcal(code)
        except Exception as exc:  # exchange_calendars raises its own InvalidCalendarName
            raise ValidationError(
                f"unknown exchange {code!r}: use an exchange_calendars code such as XNYS, XTSE or XLON"
            ) from exc


@functools.lru_cache(maxsize=32)
def _build_xcal(code: str) -> Any:
    import exchange_calendars as xcals

    with warnings.catch_warnings():  # exchange_calendars 4.x on pandas 3 warns about its own internals
        warnings.simplefilter("ignore", DeprecationWarning)
        return xcals.get_calendar(code)


def _utc(ts: Any) -> datetime:
    return as_utc(ts.to_pydatetime())


def exchange_for_symbol(symbol: str) -> str | None:
    """The exchange_calendars code a Yahoo symbol trades on, or None when we cannot tell.

    ``AAPL``, ``BRK-B`` -> XNYS (US); ``SHOP.TO`` -> XTSE; ``7203.T`` -> XTKS;
    indices (``^GSPC``), currencies and futures (``EURUSD=X``, ``ES=F``), crypto pairs
    (``BTC-USD``) and unknown suffixes -> None.
    """
    sym = symbol.strip().lstrip("$").upper()
    if not sym or not _SYMBOL.match(sym) or sym.startswith("^") or "=" in sym:
        return None
    if "." in sym:
        return SUFFIX_EXCHANGES.get(sym.rsplit(".", 1)[1])
    if "-" in sym:
        base, _, quote = sym.rpartition("-")
        if quote in _CRYPTO_QUOTE and len(base) >= 2:
            return None
    return US


class ExchangeCalendar:
    """``MarketCalendar`` for a primary exchange (default NYSE) and the exchanges of all symbols.

    ``exchange`` is what "the market" means when no symbol is given (``session_at(when)``);
    symbols always go to their own exchange. ``tz`` is the zone for showing the primary
    exchange's times; it defaults to that exchange's own zone. Pure computation, no network.
    """

    def __init__(
        self, exchange: str = "XNYS", tz: ZoneInfo | str | None = None, *, deferred: bool = False
    ) -> None:
        """Raises ValidationError for an unknown exchange. ``deferred``: build the exchange's
        calendar at its first use (or ``load()``, e.g. in a worker thread) instead of here:
        the bot's start-up does not wait for it."""
        self.exchange = exchange.upper()
        self._given = exchange
        self._tz: ZoneInfo | None = ZoneInfo(str(tz)) if tz is not None else None
        self._days: dict[tuple[str, date], SessionTimes | None] = {}
        self._lock = threading.Lock()
        if not deferred:
            self.load()

    def load(self) -> None:
        """Build the primary exchange's calendar now; ValidationError if the exchange is unknown."""
        try:
            cal = _xcal(self.exchange)
        except ValidationError as exc:
            raise ValidationError(
                f"unknown exchange {self._given!r}: use an exchange_calendars code such as XNYS, XTSE or XLON"
            ) from exc
        if self._tz is None:
            self._tz = ZoneInfo(str(cal.tz))

    @property
    def tz(self) -> ZoneInfo:
        """The zone for showing the primary exchange's times (its own zone unless given)."""
        if self._tz is None:
            self.load()
            assert self._tz is not None
        return self._tz

    # ------------------------------------------------------------------ symbols

    def exchange_of(self, symbol: str | None) -> str | None:
        """The calendar code for ``symbol`` (None symbol: the primary exchange)."""
        if symbol is None:
            return self.exchange
        return exchange_for_symbol(symbol)

    def has_extended_hours(self, symbol: str | None = None) -> bool:
        """Whether ``symbol`` trades pre-market and after hours (US listings only)."""
        return self.exchange_of(symbol) == US

    def zone(self, symbol: str | None = None) -> ZoneInfo | None:
        """The exchange's local time zone (None when the exchange is unknown)."""
        code = self.exchange_of(symbol)
        if code is None:
            return None
        return self.tz if code == self.exchange else ZoneInfo(str(_xcal(code).tz))

    # ------------------------------------------------------------------ days

    def session_times(self, day: date, symbol: str | None = None) -> SessionTimes | None:
        """Open/close (and extended hours) of ``day``, or None when it is not a trading day.

        Raises ValidationError for a day outside the calendar's range (about 20 years back
        and one year ahead) or a symbol whose exchange is unknown.
        """
        code = self._code(symbol)
        key = (code, day)
        with self._lock:
            if key in self._days:
                return self._days[key]
        times = self._compute(code, day)
        with self._lock:
            if len(self._days) > 4096:
                self._days.clear()
            self._days[key] = times
        return times

    def _code(self, symbol: str | None) -> str:
        code = self.exchange_of(symbol)
        if code is None:
            raise ValidationError(f"no trading calendar for {symbol!r}: its exchange is not known")
        return code

    def _compute(self, code: str, day: date) -> SessionTimes | None:
        cal = _xcal(code)
        self._check_bounds(cal, day)
        if not cal.is_session(day):
            return None
        open_, close = _utc(cal.session_open(day)), _utc(cal.session_close(day))
        break_start = break_end = None
        if cal.has_break:
            bs, be = cal.session_break_start(day), cal.session_break_end(day)
            if bs is not None and be is not None and not (_isnat(bs) or _isnat(be)):
                break_start, break_end = _utc(bs), _utc(be)
        early = bool(close.astimezone(ZoneInfo(str(cal.tz))).time() < _regular_close_time(cal, day))
        pre_open = post_close = None
        if code == US:
            pre_open = datetime.combine(day, PRE_OPEN, tzinfo=NEW_YORK).astimezone(UTC)
            normal_end = datetime.combine(day, REGULAR_POST_CLOSE, tzinfo=NEW_YORK).astimezone(UTC)
            post_close = min(normal_end, close + POST_HOURS)
        return SessionTimes(
            day=day,
            exchange=code,
            open=open_,
            close=close,
            pre_open=pre_open,
            post_close=post_close,
            break_start=break_start,
            break_end=break_end,
            early_close=early,
        )

    @staticmethod
    def _check_bounds(cal: Any, day: date) -> None:
        first, last = cal.first_session.date(), cal.last_session.date()
        if not first <= day <= last:
            raise ValidationError(
                f"{day.isoformat()} is outside the {cal.name} trading calendar "
                f"({first.isoformat()} to {last.isoformat()}); pick a date in that range"
            )

    def in_range(self, day: date, symbol: str | None = None) -> bool:
        """Whether the calendar covers ``day`` (exchange_calendars holds ~20 years back, 1 ahead)."""
        code = self.exchange_of(symbol)
        if code is None:
            return False
        cal = _xcal(code)
        return bool(cal.first_session.date() <= day <= cal.last_session.date())

    def local_day(self, when: datetime, symbol: str | None = None) -> date:
        """The calendar date at the exchange for the instant ``when``."""
        zone = self.zone(symbol) or self.tz
        return as_utc(when).astimezone(zone).date()

    def is_trading_day(self, day: date, symbol: str | None = None) -> bool:
        """Whether the exchange holds a regular session on ``day``."""
        return self.session_times(day, symbol) is not None

    def is_early_close(self, day: date, symbol: str | None = None) -> bool:
        """Whether ``day`` is a trading day that closes early (e.g. 13:00 on 2026-11-27)."""
        times = self.session_times(day, symbol)
        return bool(times and times.early_close)

    def holiday_name(self, day: date, symbol: str | None = None) -> str | None:
        """The holiday that closes the exchange on a weekday (``Thanksgiving``), else None."""
        code = self._code(symbol)
        cal = _xcal(code)
        self._check_bounds(cal, day)
        if day.weekday() >= 5 or cal.is_session(day):
            return None
        import pandas as pd

        ts = pd.Timestamp(day)
        rules = cal.regular_holidays
        if rules is not None:
            names = rules.holidays(ts, ts, return_name=True)
            if len(names):
                return str(names.iloc[0])
        return "market holiday"

    def next_trading_day(self, day: date, symbol: str | None = None) -> date:
        """The first trading day strictly after ``day``."""
        return self._step(day, symbol, +1)

    def previous_trading_day(self, day: date, symbol: str | None = None) -> date:
        """The last trading day strictly before ``day``."""
        return self._step(day, symbol, -1)

    def _step(self, day: date, symbol: str | None, direction: int) -> date:
        current = day
        for _ in range(30):  # no exchange closes for 30 days in a row
            current += timedelta(days=direction)
            if self.is_trading_day(current, symbol):
                return current
        raise ValidationError(f"no trading day within 30 days of {day.isoformat()}")

    # ------------------------------------------------------------------ instants

    def session_at(self, when: datetime, symbol: str | None = None) -> TradingSession | None:
        """The session at ``when`` for ``symbol``; None when the exchange (or date) is unknown."""
        when = as_utc(when)
        code = self.exchange_of(symbol)
        if code is None:
            return None
        day = self.local_day(when, symbol)
        if not self.in_range(day, symbol):
            return None
        times = self.session_times(day, symbol)
        if times is None:
            return TradingSession.CLOSED
        return times.session_at(when)

    def previous_close(self, when: datetime, symbol: str | None = None) -> datetime:
        """The last regular-session close strictly before ``when``."""
        when = as_utc(when)
        day = self.local_day(when, symbol)
        times = self.session_times(day, symbol)
        if times is not None and times.close < when:
            return times.close
        prev = self.session_times(self.previous_trading_day(day, symbol), symbol)
        assert prev is not None
        return prev.close

    def trading_day_of(self, when: datetime, symbol: str | None = None) -> date:
        """The trading day whose prices are current at ``when``.

        During a trading day's sessions (from pre-market to the end of after hours) that day;
        otherwise the last trading day that has started (Saturday -> Friday, a holiday ->
        the day before, 02:00 -> yesterday).
        """
        when = as_utc(when)
        day = self.local_day(when, symbol)
        times = self.session_times(day, symbol)
        if times is not None and times.starts <= when:
            return day
        return self.previous_trading_day(day, symbol)

    def next_change(self, when: datetime, symbol: str | None = None) -> tuple[datetime, TradingSession]:
        """The next instant after ``when`` at which the session changes, and the session it starts."""
        when = as_utc(when)
        day = self.local_day(when, symbol)
        for _ in range(31):
            times = self.session_times(day, symbol)
            if times is not None:
                for instant in _boundaries(times):
                    if instant > when:
                        return instant, times.session_at(instant)
            day += timedelta(days=1)
        raise ValidationError(f"no session change within 31 days of {when.isoformat()}")


def _boundaries(times: SessionTimes) -> list[datetime]:
    points = [times.pre_open, times.open, times.break_start, times.break_end, times.close, times.post_close]
    return sorted({p for p in points if p is not None})


def _isnat(value: Any) -> bool:
    import pandas as pd

    return bool(pd.isna(value))


def _regular_close_time(cal: Any, day: date) -> time:
    """The exchange's normal closing time for ``day`` (its close times can change over the years)."""
    close_times = cal.close_times  # ((start date or None, time), ...)
    chosen = close_times[0][1]
    for start, t in close_times:
        if start is None or start.date() <= day:
            chosen = t
    return chosen  # type: ignore[no-any-return]

"""Trading sessions: normal days, Thanksgiving 2026, the 2026-11-27 early close, DST, weekends, non-US."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.errors import ValidationError
from bot.domain.models import TradingSession
from bot.market.sessions import ExchangeCalendar, exchange_for_symbol
from tests.unit.market.conftest import et

PRE, REG, POST, CLOSED = (
    TradingSession.PRE,
    TradingSession.REGULAR,
    TradingSession.POST,
    TradingSession.CLOSED,
)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("2026-11-25 03:59", CLOSED),
        ("2026-11-25 04:00", PRE),
        ("2026-11-25 09:29", PRE),
        ("2026-11-25 09:30", REG),
        ("2026-11-25 15:59", REG),
        ("2026-11-25 16:00", POST),
        ("2026-11-25 19:59", POST),
        ("2026-11-25 20:00", CLOSED),
        ("2026-11-25 23:30", CLOSED),
    ],
)
def test_normal_day_boundaries(calendar: ExchangeCalendar, when: str, expected: TradingSession) -> None:
    assert calendar.session_at(et(when)) == expected


@pytest.mark.parametrize("hour", ["00:00", "04:30", "08:30", "10:00", "15:00", "17:00", "21:00"])
def test_thanksgiving_is_closed_all_day(calendar: ExchangeCalendar, hour: str) -> None:
    assert calendar.session_at(et(f"2026-11-26 {hour}")) == CLOSED
    assert not calendar.is_trading_day(date(2026, 11, 26))
    assert calendar.holiday_name(date(2026, 11, 26)) == "Thanksgiving"


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("2026-11-27 03:59", CLOSED),
        ("2026-11-27 04:00", PRE),
        ("2026-11-27 09:30", REG),
        ("2026-11-27 12:59", REG),
        ("2026-11-27 13:00", POST),  # the early close
        ("2026-11-27 16:59", POST),  # after hours end four hours after an early close
        ("2026-11-27 17:00", CLOSED),
        ("2026-11-27 19:00", CLOSED),
    ],
)
def test_early_close_day_after_thanksgiving(
    calendar: ExchangeCalendar, when: str, expected: TradingSession
) -> None:
    assert calendar.session_at(et(when)) == expected


def test_early_close_times(calendar: ExchangeCalendar) -> None:
    t = calendar.session_times(date(2026, 11, 27))
    assert t is not None and t.early_close
    assert calendar.is_early_close(date(2026, 11, 27))
    assert not calendar.is_early_close(date(2026, 11, 25))
    assert t.close == et("2026-11-27 13:00")
    assert t.post_close == et("2026-11-27 17:00")
    assert t.pre_open == et("2026-11-27 04:00")


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        # Friday 2026-03-06 is EST (UTC-5), Monday 2026-03-09 the first EDT trading day (UTC-4)
        ("2026-03-06 08:59", CLOSED),
        ("2026-03-06 09:00", PRE),
        ("2026-03-06 14:29", PRE),
        ("2026-03-06 14:30", REG),
        ("2026-03-06 21:00", POST),
        ("2026-03-09 07:59", CLOSED),
        ("2026-03-09 08:00", PRE),
        ("2026-03-09 13:29", PRE),
        ("2026-03-09 13:30", REG),
        ("2026-03-09 20:00", POST),
        ("2026-03-10 00:00", CLOSED),
        # autumn: Friday 2026-10-30 EDT, Monday 2026-11-02 EST
        ("2026-10-30 13:30", REG),
        ("2026-10-30 23:59", POST),
        ("2026-11-02 13:30", PRE),
        ("2026-11-02 14:30", REG),
        ("2026-11-03 00:59", POST),
        ("2026-11-03 01:00", CLOSED),
    ],
)
def test_dst_changes_move_the_sessions_in_utc(
    calendar: ExchangeCalendar, instant: str, expected: TradingSession
) -> None:
    assert calendar.session_at(utc(instant)) == expected


def test_weekend_and_previous_close(calendar: ExchangeCalendar) -> None:
    saturday = et("2026-11-28 12:00")
    assert calendar.session_at(saturday) == CLOSED
    assert calendar.session_at(et("2026-11-29 08:00")) == CLOSED  # Sunday morning: no pre-market
    assert calendar.previous_close(saturday) == et("2026-11-27 13:00")
    # Friday pre-market: the last close is Wednesday's (Thursday was Thanksgiving)
    assert calendar.previous_close(et("2026-11-27 08:30")) == et("2026-11-25 16:00")
    # strictly before: at the close itself, the previous one
    assert calendar.previous_close(et("2026-11-25 16:00")) == et("2026-11-24 16:00")


def test_trading_day_helpers(calendar: ExchangeCalendar) -> None:
    assert calendar.next_trading_day(date(2026, 11, 25)) == date(2026, 11, 27)
    assert calendar.next_trading_day(date(2026, 11, 27)) == date(2026, 11, 30)
    assert calendar.previous_trading_day(date(2026, 11, 27)) == date(2026, 11, 25)
    assert calendar.trading_day_of(et("2026-11-26 12:00")) == date(2026, 11, 25)
    assert calendar.trading_day_of(et("2026-11-27 03:00")) == date(2026, 11, 25)
    assert calendar.trading_day_of(et("2026-11-27 04:00")) == date(2026, 11, 27)
    assert calendar.next_change(et("2026-11-26 12:00")) == (et("2026-11-27 04:00"), PRE)
    assert calendar.next_change(et("2026-11-27 12:00")) == (et("2026-11-27 13:00"), POST)
    assert calendar.next_change(et("2026-11-27 16:00")) == (et("2026-11-27 17:00"), CLOSED)


def test_non_us_symbols_get_their_own_exchange(calendar: ExchangeCalendar) -> None:
    thanksgiving_11am = et("2026-11-26 11:00")
    assert calendar.session_at(thanksgiving_11am) == CLOSED
    assert calendar.session_at(thanksgiving_11am, "SHOP.TO") == REG  # Toronto trades on US Thanksgiving
    assert calendar.session_at(et("2026-11-26 08:30"), "SHOP.TO") == CLOSED  # no pre-market label abroad
    assert calendar.session_at(et("2026-11-26 16:30"), "SHOP.TO") == CLOSED  # nor after hours
    tokyo = "7203.T"
    assert calendar.session_at(utc("2026-11-27 01:00"), tokyo) == REG  # 10:00 JST
    assert calendar.session_at(utc("2026-11-27 03:00"), tokyo) == CLOSED  # 12:00 JST lunch break
    assert calendar.session_at(utc("2026-11-27 04:00"), tokyo) == REG  # 13:00 JST
    assert calendar.session_at(utc("2026-11-27 06:30"), tokyo) == CLOSED  # 15:30 JST close
    t = calendar.session_times(date(2026, 11, 27), tokyo)
    assert t is not None and t.pre_open is None and t.post_close is None and t.break_start is not None


@pytest.mark.parametrize("symbol", ["BTC-USD", "ETH-EUR", "EURUSD=X", "ES=F", "^GSPC", "FOO.XX", ""])
def test_symbols_without_a_known_exchange_get_no_label(calendar: ExchangeCalendar, symbol: str) -> None:
    assert calendar.session_at(et("2026-11-27 11:00"), symbol) is None


@pytest.mark.parametrize(
    ("symbol", "exchange"),
    [
        ("AAPL", "XNYS"),
        ("BRK-B", "XNYS"),
        ("SHOP.TO", "XTSE"),
        ("7203.T", "XTKS"),
        ("VOD.L", "XLON"),
        ("$nvda", "XNYS"),
    ],
)
def test_exchange_for_symbol(symbol: str, exchange: str) -> None:
    assert exchange_for_symbol(symbol) == exchange


def test_dates_outside_the_calendar(calendar: ExchangeCalendar) -> None:
    far = et("2035-06-01 11:00")
    assert calendar.session_at(far) is None  # no label rather than a guess
    with pytest.raises(ValidationError, match="outside the XNYS trading calendar"):
        calendar.session_times(far.date())


def test_unknown_exchange_is_a_clear_error() -> None:
    with pytest.raises(ValidationError, match="unknown exchange 'NOPE'"):
        ExchangeCalendar("NOPE")


def test_a_deferred_calendar_builds_at_first_use_or_load() -> None:
    """``marketbot run`` starts with a deferred calendar and loads it in a worker thread."""
    unknown = ExchangeCalendar("nope", deferred=True)  # no error until it is built
    with pytest.raises(ValidationError, match="unknown exchange 'nope'"):
        unknown.load()
    with pytest.raises(ValidationError, match="unknown exchange 'NOPE'"):
        unknown.session_times(date(2025, 3, 3))
    deferred, eager = ExchangeCalendar("XTSE", deferred=True), ExchangeCalendar("XTSE")
    assert deferred.tz == eager.tz
    when = datetime(2025, 3, 3, 15, 0, tzinfo=UTC)
    assert deferred.session_at(when) == eager.session_at(when)
    assert deferred.session_times(date(2025, 3, 3)) == eager.session_times(date(2025, 3, 3))


_START = datetime(2025, 1, 1, tzinfo=UTC)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=600 * 24 * 60))
def test_sessions_agree_with_the_day_they_belong_to(minutes: int) -> None:
    calendar = ExchangeCalendar("XNYS")
    when = _START + timedelta(minutes=minutes)
    session = calendar.session_at(when)
    local = when.astimezone(calendar.tz)
    if local.weekday() >= 5 or not calendar.is_trading_day(local.date()):
        assert session == CLOSED
    if session == PRE:
        assert 4 <= local.hour < 10
    if session == REG:
        assert (local.hour, local.minute) >= (9, 30) and local.hour < 16
    if session == POST:
        assert 13 <= local.hour < 20
    change, nxt = calendar.next_change(when)
    assert change > when and nxt != session
    assert calendar.previous_close(when) < when


def test_a_non_us_primary_exchange_keeps_us_symbols_on_us_hours() -> None:
    toronto = ExchangeCalendar("XTSE")
    at = et("2026-11-26 08:30")  # US Thanksgiving, Toronto not open yet
    assert toronto.session_at(at) == CLOSED
    assert toronto.session_at(et("2026-11-26 10:00")) == REG  # "the market" is Toronto here
    assert toronto.session_at(et("2026-11-27 08:30"), "AAPL") == PRE  # AAPL is still a US listing
    assert toronto.exchange_of("AAPL") == "XNYS" and toronto.exchange_of(None) == "XTSE"

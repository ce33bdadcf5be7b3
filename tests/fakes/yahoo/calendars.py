"""Exchange sessions the fake prices against (exchange_calendars), and named moments for scenarios."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

# ---------------------------------------------------------------- calendars


@lru_cache(maxsize=16)
def _cal(code: str) -> Any:
    import exchange_calendars as xcals

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return xcals.get_calendar(code)


@dataclass(frozen=True)
class _Times:
    day: date
    pre: datetime | None
    open: datetime
    close: datetime
    post: datetime | None
    break_start: datetime | None
    break_end: datetime | None

    @property
    def starts(self) -> datetime:
        return self.pre or self.open

    @property
    def ends(self) -> datetime:
        return self.post or self.close


def _utc(ts: Any) -> datetime:
    value: datetime = ts.to_pydatetime()
    return value.astimezone(UTC)


@lru_cache(maxsize=8192)
def _times(code: str, day: date) -> _Times | None:
    import pandas as pd

    cal = _cal(code)
    if not cal.is_session(day):
        return None
    open_, close = _utc(cal.session_open(day)), _utc(cal.session_close(day))
    bs = be = None
    if cal.has_break:
        s, e = cal.session_break_start(day), cal.session_break_end(day)
        if not (pd.isna(s) or pd.isna(e)):
            bs, be = _utc(s), _utc(e)
    pre = post = None
    if code == "XNYS":  # US extended hours: 04:00 ET to the open, close to close + 4 h (20:00 / 17:00)
        tz = ZoneInfo("America/New_York")
        pre = datetime.combine(day, time(4, 0), tzinfo=tz).astimezone(UTC)
        post = min(datetime.combine(day, time(20, 0), tzinfo=tz).astimezone(UTC), close + timedelta(hours=4))
    return _Times(day, pre, open_, close, post, bs, be)


def _prev_session(code: str, day: date) -> date:
    d = day - timedelta(days=1)
    while _times(code, d) is None:
        d -= timedelta(days=1)
    return d


def _day_of(code: str, when: datetime) -> date:
    """The trading day whose data is current at ``when`` (from its pre-market on)."""
    tz = ZoneInfo(str(_cal(code).tz))
    d = when.astimezone(tz).date()
    t = _times(code, d)
    if t is not None and t.starts <= when:
        return d
    return _prev_session(code, d)


# Named moments around Thanksgiving 2026 (New York time) for ``--scenario`` and tests.
SCENARIOS: dict[str, str] = {
    "pre-market": "2026-11-27T08:30",  # day after Thanksgiving, before the open
    "regular": "2026-11-25T11:00",
    "after-hours": "2026-11-25T17:30",
    "early-close": "2026-11-27T13:30",  # after the 13:00 early close
    "holiday": "2026-11-26T12:00",  # Thanksgiving
    "weekend": "2026-11-28T12:00",
    "overnight": "2026-11-25T23:00",
}

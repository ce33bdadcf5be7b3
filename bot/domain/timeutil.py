"""Time helpers: UTC normalisation and human durations ("2h", "30m", "1d")."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from bot.domain.errors import ValidationError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|secs|m|min|mins|h|hr|hrs|d|day|days|w|wk)?\s*$", re.I)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def utcnow() -> datetime:
    """The current time, tz-aware UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Return ``value`` as tz-aware UTC; naive datetimes are taken to be UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_duration(text: str | int | float) -> timedelta:
    """Parse ``90``, ``"30m"``, ``"2h"``, ``"1d"``, ``"1w"`` (bare numbers are seconds)."""
    if isinstance(text, bool):
        raise ValidationError(f"{text!r} is not a duration; write e.g. 30m, 2h or 1d")
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        m = _DURATION.match(text)
        if not m:
            raise ValidationError(f"{text!r} is not a duration; write e.g. 30m, 2h or 1d")
        unit = (m.group(2) or "s")[0].lower()
        seconds = float(m.group(1)) * _UNITS[unit]
    if seconds < 0:
        raise ValidationError(f"{text!r} is negative; a duration must be positive")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """Render a duration compactly: ``2h``, ``1h 30m``, ``45s``, ``3d``."""
    total = int(delta.total_seconds())
    if total < 60:
        return f"{total}s"
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [f"{days}d"] if days else []
    if hours:
        parts.append(f"{hours}h")
    if minutes and not days:
        parts.append(f"{minutes}m")
    return " ".join(parts) or "0m"


def format_age(published: datetime, now: datetime) -> str:
    """Human age of a story: ``just now``, ``12 min ago``, ``3 h ago``, ``2 d ago``."""
    seconds = (as_utc(now) - as_utc(published)).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} d ago"


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told: for ``--at`` CLI options and tests."""

    def __init__(self, start: datetime) -> None:
        self._now = as_utc(start)

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        self._now = as_utc(when)

    def advance(self, delta: timedelta | float) -> datetime:
        self._now += delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        return self._now


class OffsetClock:
    """The real clock shifted so that it reads ``start`` now, then runs on (``MARKETBOT_NOW``)."""

    def __init__(self, start: datetime) -> None:
        self._offset = as_utc(start) - datetime.now(UTC)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

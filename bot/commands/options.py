"""Subscription options as typed in chat (and on the CLI): one grammar, one-line errors.

    quiet 22:00-06:00 | quiet off          hold alerts in this window (the bot's time zone)
    max 10/h | max off                     at most N alerts an hour (the rest wait for a digest)
    min-move 2% | min-move off             price-move alerts only from this size
    sessions pre-market,regular | all      only in these trading sessions
    threads on|off                         follow-ups in a thread under the alert
    briefing premarket|off                 the pre-market briefing on trading days

``parse_options`` reads ``word value`` pairs from tokens into ``OptionChange`` records;
``apply_options`` makes them a new ``SubscriptionOptions``; ``describe_options`` shows them
the way they are typed, so what ``/watch subscriptions`` shows can be pasted back.
The older words ``briefing`` (alone) and ``no-briefing`` still work.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final
from zoneinfo import ZoneInfo

from bot.commands.args import Token
from bot.config import parse_quiet_hours, parse_session
from bot.domain.errors import CommandError
from bot.domain.models import QuietHours, SubscriptionOptions, TradingSession

MAX_PER_HOUR: Final = 3600
OPTION_KEYS: Final = ("quiet", "max", "min-move", "sessions", "threads", "briefing")
OPTIONS_HELP: Final = (
    "quiet 22:00-06:00, max 10/h, min-move 2%, sessions pre-market,regular, threads on|off, "
    "briefing premarket|off (off or all resets one)"
)
SESSION_WORDS: Final = ("pre-market", "regular", "after-hours", "closed")

_KEY_ALIASES: Final = {
    "quiet": "quiet",
    "quiet-hours": "quiet",
    "quiet_hours": "quiet",
    "max": "max",
    "max-per-hour": "max",
    "max_per_hour": "max",
    "cap": "max",
    "min-move": "min-move",
    "minmove": "min-move",
    "min_move": "min-move",
    "min-move-pct": "min-move",
    "sessions": "sessions",
    "session": "sessions",
    "threads": "threads",
    "thread": "threads",
    "briefing": "briefing",
}
_OFF: Final = frozenset({"off", "none", "no", "false", "0", "clear", "reset"})
_ON: Final = frozenset({"on", "yes", "true", "1"})
_EXAMPLE: Final = {
    "quiet": "quiet 22:00-06:00 (or quiet off)",
    "max": "max 10/h (or max off)",
    "min-move": "min-move 2% (or min-move off)",
    "sessions": "sessions pre-market,regular (or sessions all)",
    "threads": "threads on or threads off",
    "briefing": "briefing premarket or briefing off",
}
_MAX: Final = re.compile(r"^(\d+)(?:/(?:h|hr|hour))?$", re.I)
_PCT: Final = re.compile(r"^(\d+(?:\.\d+)?)%?$")


class OptionError(CommandError):
    """An option that cannot be read; the message says what to write instead."""


@dataclass(frozen=True, slots=True)
class OptionChange:
    """One option set (or reset with ``None``): ``key`` is one of ``OPTION_KEYS``."""

    key: str
    value: QuietHours | int | float | tuple[TradingSession, ...] | bool | str | None


def _short(text: str) -> str:
    return text if len(text) <= 30 else text[:27] + "..."


def _read_value(key: str, words: Sequence[str]) -> OptionChange:
    text = words[0]
    low = text.lower()
    if key == "quiet":
        if low in _OFF:
            return OptionChange(key, None)
        try:
            quiet = parse_quiet_hours(text)
        except ValueError as exc:
            raise OptionError(f"{_short(text)!r} is not a quiet-hours window: {exc}.") from None
        return OptionChange(key, quiet)
    if key == "max":
        if low in _OFF:
            return OptionChange(key, None)
        m = _MAX.match(low)
        if not m or not 1 <= int(m.group(1)) <= MAX_PER_HOUR:
            raise OptionError(
                f"{_short(text)!r} is not an hourly cap: write a whole number of alerts per hour "
                f"from 1 to {MAX_PER_HOUR}, e.g. max 10/h (or max off)."
            )
        return OptionChange(key, int(m.group(1)))
    if key == "min-move":
        if low in _OFF:
            return OptionChange(key, None)
        m = _PCT.match(low)
        if not m or not 0 < float(m.group(1)) <= 100:
            raise OptionError(
                f"{_short(text)!r} is not a percentage: write a number above 0 and at most 100, "
                "e.g. min-move 2% or min-move 0.5% (or min-move off)."
            )
        return OptionChange(key, float(m.group(1)))
    if key == "sessions":
        if low in ("all", "any", "every", *_OFF):
            return OptionChange(key, ())
        sessions: list[TradingSession] = []
        for word in words:
            try:
                session = parse_session(word)
            except ValueError:
                raise OptionError(
                    f"{_short(word)!r} is not a trading session: write some of pre-market, regular, "
                    "after-hours and closed, comma-separated (e.g. sessions pre-market,regular), or sessions all."
                ) from None
            if session not in sessions:
                sessions.append(session)
        return OptionChange(key, tuple(sessions))
    if key == "threads":
        if low in _ON:
            return OptionChange(key, True)
        if low in _OFF:
            return OptionChange(key, False)
        raise OptionError(f"{_short(text)!r} is not on or off: write threads on or threads off.")
    # briefing
    if low in ("premarket", "pre-market", "pre", *_ON):
        return OptionChange(key, "premarket")
    if low in _OFF:
        return OptionChange(key, "none")
    raise OptionError(f"{_short(text)!r} is not a briefing: write briefing premarket or briefing off.")


def _is_session(word: str) -> bool:
    try:
        parse_session(word)
    except ValueError:
        return False
    return True


def _value_words(key: str, tokens: Sequence[Token], i: int) -> tuple[list[str], int]:
    """The value's words from ``tokens[i]`` on, and the index after them.

    Sessions take a comma list that may have spaces around the commas (``pre-market, regular``)
    or be separate session words; every other option takes one word.
    """
    if key != "sessions":
        return [tokens[i].text], i + 1
    words = [p for p in tokens[i].text.split(",") if p.strip()]
    open_list = tokens[i].text.endswith(",")
    j = i + 1
    while j < len(tokens):
        text = tokens[j].text
        parts = [p for p in text.split(",") if p.strip()]
        if not (open_list or text.startswith(",") or (parts and all(_is_session(p) for p in parts))):
            break
        words += parts
        open_list = text.endswith(",") or (open_list and not parts)
        j += 1
    return words or [tokens[i].text], j


def _key(word: str) -> str | None:
    return _KEY_ALIASES.get(word.lower())


def unknown_option(word: str) -> str:
    """The one-line error for a word that is not an option."""
    close = difflib.get_close_matches(word.lower(), list(_KEY_ALIASES), n=1, cutoff=0.6)
    hint = f" Did you mean {_KEY_ALIASES[close[0]]}?" if close else ""
    return f"Unknown option {_short(word)!r}.{hint} Options are {OPTIONS_HELP}."


def parse_options(tokens: Sequence[Token]) -> tuple[OptionChange, ...]:
    """Read ``word value`` pairs (see the module docstring); raise OptionError on the first problem."""
    changes: dict[str, OptionChange] = {}
    i = 0
    while i < len(tokens):
        word = tokens[i].text
        low = word.lower()
        if low in ("no-briefing", "nobriefing", "alerts-only"):  # the older spelling
            change, i = OptionChange("briefing", "none"), i + 1
        else:
            key = _key(word)
            if key is None:
                raise OptionError(unknown_option(word))
            if i + 1 >= len(tokens) or (key == "briefing" and _key(tokens[i + 1].text) is not None):
                if key != "briefing":
                    raise OptionError(f"{key} needs a value: write {_EXAMPLE[key]}.")
                change, i = OptionChange("briefing", "premarket"), i + 1  # "briefing" alone: on
            else:
                words, i = _value_words(key, tokens, i + 1)
                change = _read_value(key, words)
        if change.key in changes and changes[change.key] != change:
            raise OptionError(f"{change.key} is given twice: write each option once.")
        changes[change.key] = change
    return tuple(changes.values())


def apply_options(options: SubscriptionOptions, changes: Sequence[OptionChange]) -> SubscriptionOptions:
    """``options`` with ``changes`` applied (the options not named keep their values)."""
    for c in changes:
        if c.key == "quiet":
            assert c.value is None or isinstance(c.value, QuietHours)
            options = replace(options, quiet_hours=c.value)
        elif c.key == "max":
            assert c.value is None or isinstance(c.value, int)
            options = replace(options, max_per_hour=c.value)
        elif c.key == "min-move":
            assert c.value is None or isinstance(c.value, float)
            options = replace(options, min_move_pct=c.value)
        elif c.key == "sessions":
            assert isinstance(c.value, tuple)
            options = replace(options, sessions=c.value)
        elif c.key == "threads":
            options = replace(options, threads=bool(c.value))
        elif c.key == "briefing":
            options = replace(options, briefing="premarket" if c.value == "premarket" else "none")
    return options


def _session_word(s: TradingSession) -> str:
    return "after-hours" if s is TradingSession.POST else s.value


def _tz_abbr(tz: ZoneInfo, now: datetime | None) -> str:
    return (now or datetime.now(tz)).astimezone(tz).strftime("%Z")


def describe_options(
    options: SubscriptionOptions, tz: ZoneInfo, *, now: datetime | None = None, defaults: bool = False
) -> list[str]:
    """The options as typed (``quiet 22:00-06:00 EST``, ``max 10/h``); defaults only when asked."""
    out = []
    if options.quiet_hours is not None:
        out.append(f"quiet {options.quiet_hours} {_tz_abbr(tz, now)}")
    elif defaults:
        out.append("quiet off")
    if options.max_per_hour is not None:
        out.append(f"max {options.max_per_hour}/h")
    elif defaults:
        out.append("max off")
    if options.min_move_pct is not None:
        out.append(f"min-move {options.min_move_pct:g}%")
    elif defaults:
        out.append("min-move off")
    if options.sessions:
        out.append("sessions " + ",".join(_session_word(s) for s in options.sessions))
    elif defaults:
        out.append("sessions all")
    if not options.threads or defaults:
        out.append(f"threads {'on' if options.threads else 'off'}")
    if options.briefing == "premarket" or defaults:
        out.append(f"briefing {'premarket' if options.briefing == 'premarket' else 'off'}")
    return out


def describe_changes(changes: Sequence[OptionChange], tz: ZoneInfo, *, now: datetime | None = None) -> str:
    """``quiet 22:00-06:00 EST, max off``: what a command changed."""
    parts = []
    for c in changes:
        if c.value is None:
            parts.append(f"{c.key} off")
        elif c.key == "sessions":
            assert isinstance(c.value, tuple)
            parts.append("sessions " + (",".join(_session_word(s) for s in c.value) or "all"))
        else:
            one = apply_options(SubscriptionOptions(), [c])
            shown = describe_options(one, tz, now=now, defaults=True)
            parts.append(next(p for p in shown if p.startswith(c.key + " ")))
    return ", ".join(parts)


def complete_sessions(text: str) -> list[str]:
    """Autocomplete for a comma list of sessions: ``pre-market,reg`` offers ``pre-market,regular``."""
    head, _, last = text.rpartition(",")
    chosen = {w.strip().lower() for w in head.split(",") if w.strip()}
    prefix = f"{head}," if head else ""
    words = [w for w in SESSION_WORDS if w not in chosen and w.startswith(last.strip().lower())]
    out = [prefix + w for w in words]
    if not head and "all".startswith(last.strip().lower()):
        out.append("all")
    return out

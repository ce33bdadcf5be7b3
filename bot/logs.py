"""Logging: one line per event on stderr, text or JSON, with secrets redacted.

Tokens are redacted twice over: the known secret values from the environment, and anything
shaped like a Slack or Discord token or a password in a database URL.

Trace fields follow one alert end to end, across replicas: ingest binds ``story_id`` when it
stores or joins a story, the dispatcher binds ``story_id``, ``delivery_key`` (the outbox key)
and ``channel`` for each row it claims, and every record logged meanwhile (in that task, and in
the tasks and threads it starts) carries them — JSON logs as fields, text logs as a
``[story_id=… delivery_key=…]`` suffix. ``grep <story id>`` over all replicas' logs then shows
the story fetched, stored, queued and sent (or retried, or failed).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

_TOKEN_SHAPES = re.compile(
    r"(xox[abposr]-[A-Za-z0-9-]{8,}|xapp-[A-Za-z0-9-]{8,}"
    r"|[MNO][A-Za-z0-9_-]{23,27}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,40}"
    r"|(?<=://)[^/\s:@]+:[^/\s@]+(?=@))"
)
_STD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
}


# the fields ``traced``/``bind_trace`` accept, in the order text logs print them
TRACE_FIELDS = ("story_id", "delivery_key", "channel")
_TRACE: ContextVar[Mapping[str, str]] = ContextVar("marketbot_trace", default=MappingProxyType({}))


def _clean(fields: Mapping[str, object]) -> dict[str, str]:
    unknown = set(fields) - set(TRACE_FIELDS)
    if unknown:
        raise TypeError(f"unknown trace field(s) {sorted(unknown)}; use {', '.join(TRACE_FIELDS)}")
    return {k: str(v) for k, v in fields.items() if v is not None and v != ""}


@contextmanager
def traced(**fields: object) -> Iterator[None]:
    """Within the block, every log record carries ``fields`` (``story_id``, ``delivery_key``,
    ``channel``; None values are left out) besides the ones already bound."""
    token = _TRACE.set({**_TRACE.get(), **_clean(fields)})
    try:
        yield
    finally:
        _TRACE.reset(token)


def bind_trace(**fields: object) -> None:
    """Bind trace fields for the rest of the current task (a task of its own, such as one
    outbox row's delivery: asyncio gives each task a copy of the context, so they end with it)."""
    _TRACE.set({**_TRACE.get(), **_clean(fields)})


def trace_fields() -> dict[str, str]:
    """The trace fields bound here and now."""
    return dict(_TRACE.get())


def _stamp(record: logging.LogRecord) -> None:
    """Put the bound trace fields on ``record`` (an explicit ``extra=`` value wins)."""
    for key, value in _TRACE.get().items():
        if not hasattr(record, key):
            setattr(record, key, value)


class RedactingFilter(logging.Filter):
    """Replace secret values and token-shaped strings in every record's message and args."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return _TOKEN_SHAPES.sub("***", text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self.redact(message)
        if record.exc_info:
            # render the traceback now, redacted, so no formatter prints the raw one
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        record.msg, record.args = redacted, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the replica (when several processes
    share a database, which one said it), and any ``extra=`` fields (``story_id``, ``key`` of the
    delivery, ``subscription_id`` …: follow one alert across replicas by filtering on them)."""

    def __init__(self, replica: str | None = None) -> None:
        super().__init__()
        self.replica = replica

    def format(self, record: logging.LogRecord) -> str:
        _stamp(record)
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if self.replica:
            out["replica"] = self.replica
        for key, value in vars(record).items():
            if key not in _STD_ATTRS and not key.startswith("_"):
                out[key] = value if isinstance(value, str | int | float | bool | type(None)) else str(value)
        if record.exc_text:
            out["exception"] = record.exc_text
        return json.dumps(out, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``2026-11-26 08:30:00 INFO  bot.ingest: message [story_id=… delivery_key=…]`` on one line
    (tracebacks indented); the suffix lists the trace fields the record carries."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-5s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        _stamp(record)
        text = super().format(record)
        fields = [f"{k}={getattr(record, k)}" for k in TRACE_FIELDS if getattr(record, k, None) is not None]
        if fields:
            first, nl, rest = text.partition("\n")
            text = f"{first} [{' '.join(fields)}]{nl}{rest}"
        return text.replace("\n", "\n    ")


def setup_logging(
    *, fmt: str = "text", level: str = "INFO", secrets: Iterable[str] = (), replica: str | None = None
) -> None:
    """Configure the root logger for stderr; idempotent (replaces our previous handler).

    ``replica`` (JSON logs) names this process in every line.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_marketbot", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._marketbot = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter(replica) if fmt == "json" else TextFormatter())
    handler.addFilter(RedactingFilter(secrets))
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    # chatty libraries: keep their warnings, drop their debug chatter
    for noisy in (
        "alembic",
        "apscheduler",
        "aiohttp.access",
        "yfinance",
        "peewee",
        "discord",
        "slack_bolt",
        "slack_sdk",
        "asyncio",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)

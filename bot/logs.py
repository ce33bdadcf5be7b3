"""Logging: one line per event on stderr, text or JSON, with secrets redacted.

Tokens are redacted twice over: the known secret values from the environment, and anything
shaped like a Slack or Discord token or a password in a database URL.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
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
    """``2026-11-26 08:30:00 INFO  bot.ingest: message`` on one line (tracebacks indented)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-5s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
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

"""Wire basics: recorded requests and files, snowflakes, API errors and form-error bodies."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

DISCORD_EPOCH_MS = 1_420_070_400_000


class UserCannotDoThat(AssertionError):
    """The test asked the fake to act as a user in a way Discord's client would not allow."""


@dataclass
class RecordedFile:
    field: str
    filename: str
    data: bytes
    content_type: str


@dataclass
class RecordedRequest:
    """One HTTP request as the fake received it, with what it answered."""

    method: str
    path: str
    route: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    files: list[RecordedFile]
    status: int = 0
    response: Any = None
    at: float = 0.0

    @property
    def json(self) -> dict[str, Any]:
        """The JSON body (``payload_json`` for multipart requests); {} when there was none."""
        return self.body if isinstance(self.body, dict) else {}


def snowflake_time(snowflake: int) -> datetime:
    return datetime.fromtimestamp(((snowflake >> 22) + DISCORD_EPOCH_MS) / 1000, UTC)


def _iso(ts: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if ts is None else ts, UTC).isoformat()


class _Snowflakes:
    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def next(self) -> int:
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return (ms << 22) | (1 << 17) | (next(self._counter) & 0xFFF)


class ApiError(Exception):
    """An error response the fake sends with Discord's JSON shape."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        errors: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            out["errors"] = self.errors
        return out


def _form_error(path: Iterable[str | int], code: str, message: str) -> dict[str, Any]:
    tree: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
    for part in reversed(list(path)):
        tree = {str(part): tree}
    return tree


def _invalid(path: Iterable[str | int], code: str, message: str) -> ApiError:
    return ApiError(400, 50035, "Invalid Form Body", _form_error(path, code, message))

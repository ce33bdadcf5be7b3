"""Small HTTP helpers shared by the fake's routes."""

from __future__ import annotations

import json
from typing import Any, Literal

from aiohttp import web

Endpoint = Literal["cookie", "crumb", "quote", "chart", "summary", "news", "all"]
Mode = Literal["garbage", "429", "500", "401", "hang", "empty", "slow", "held"]

_INTERVALS = {
    "1m": 60,
    "2m": 120,
    "5m": 300,
    "15m": 900,
    "30m": 1800,
    "60m": 3600,
    "90m": 5400,
    "1h": 3600,
    "1d": 86400,
    "5d": 432000,
    "1wk": 604800,
}


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.Response(
        status=status, content_type="application/json", text=json.dumps(payload, separators=(",", ":"))
    )

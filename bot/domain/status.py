"""Status snapshots that services report through their ``status()`` ports.

Pure records: the quote source's circuit breaker and counters, what health checks and
``marketbot quote --status`` show. Services read these instead of probing each other's
attributes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

BreakerState = Literal["closed", "open", "half-open"]


@dataclass(frozen=True, slots=True)
class BreakerStatus:
    """A snapshot of a circuit breaker for status displays."""

    name: str
    state: BreakerState
    consecutive_failures: int
    threshold: int
    opened_at: datetime | None = None
    retry_at: datetime | None = None
    last_error: str | None = None
    last_failure_at: datetime | None = None
    last_success_at: datetime | None = None

    def paused(self, now: datetime) -> bool:
        """Open and not yet due for its probe: calls would be refused at ``now``."""
        return self.state == "open" and (self.retry_at is None or now < self.retry_at)


CLOSED_BREAKER = BreakerStatus(name="quotes", state="closed", consecutive_failures=0, threshold=0)


@dataclass(frozen=True, slots=True)
class QuoteSourceStatus:
    """What ``marketbot quote --status`` and the health check show: endpoint, breaker, counters."""

    endpoint: str
    timeout: float = 0.0
    breaker: BreakerStatus = CLOSED_BREAKER
    cached_symbols: int = 0
    in_flight: int = 0
    busy_workers: int = 0
    rounds: int = 0
    batch_requests: int = 0
    batch_failures: int = 0
    chart_fallbacks: int = 0
    chart_failures: int = 0
    extended_checks: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    late_results: int = 0
    last_error: str | None = None
    last_round_seconds: float | None = None

"""A circuit breaker: stop hammering Yahoo after repeated failures, probe again later.

closed --(N failures in a row)--> open --(reset time passes)--> half-open
half-open --(the one probe succeeds)--> closed;  --(it fails)--> open again.
State changes are logged once each (WARNING when opening, INFO when closing).
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from bot.domain.status import BreakerState, BreakerStatus
from bot.ports import Clock


class CircuitBreaker:
    """Counts consecutive failures of a dependency and says whether to call it."""

    def __init__(
        self,
        *,
        name: str,
        failures: int,
        reset: float,
        clock: Clock,
        logger: logging.Logger | None = None,
    ) -> None:
        self.name = name
        self.threshold = failures
        self.reset = timedelta(seconds=reset)
        self._clock = clock
        self._log = logger or logging.getLogger(__name__)
        self._lock = threading.Lock()
        self._state: BreakerState = "closed"
        self._failures = 0
        self._opened_at: datetime | None = None
        self._probing = False
        self._last_error: str | None = None
        self._last_failure_at: datetime | None = None
        self._last_success_at: datetime | None = None

    def allow(self) -> bool:
        """Whether a call may go out now. In half-open state only one probe at a time."""
        with self._lock:
            if self._state == "closed":
                return True
            now = self._clock.now()
            if self._state == "open":
                assert self._opened_at is not None
                if now < self._opened_at + self.reset:
                    return False
                self._state = "half-open"
                self._probing = False
                self._log.info("%s: trying again after a %ds pause", self.name, self.reset.total_seconds())
            if self._probing:
                return False
            self._probing = True
            return True

    def record_success(self) -> None:
        with self._lock:
            self._last_success_at = self._clock.now()
            was = self._state
            self._state, self._failures, self._opened_at, self._probing = "closed", 0, None, False
            if was != "closed":
                self._log.info("%s: back to normal, the circuit breaker is closed again", self.name)

    def record_failure(self, error: str) -> bool:
        """Count a failure; return True when this one opened the breaker."""
        with self._lock:
            now = self._clock.now()
            self._failures += 1
            self._last_error = error
            self._last_failure_at = now
            self._probing = False
            if self._state == "half-open" or (self._state == "closed" and self._failures >= self.threshold):
                self._state, self._opened_at = "open", now
                self._log.warning(
                    "%s: circuit breaker open after %d failures in a row, pausing %ds (last error: %s)",
                    self.name,
                    self._failures,
                    self.reset.total_seconds(),
                    error,
                )
                return True
            return False

    def status(self) -> BreakerStatus:
        with self._lock:
            retry = self._opened_at + self.reset if self._state == "open" and self._opened_at else None
            return BreakerStatus(
                name=self.name,
                state=self._state,
                consecutive_failures=self._failures,
                threshold=self.threshold,
                opened_at=self._opened_at,
                retry_at=retry,
                last_error=self._last_error,
                last_failure_at=self._last_failure_at,
                last_success_at=self._last_success_at,
            )

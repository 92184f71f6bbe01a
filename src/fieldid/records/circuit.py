"""A circuit breaker per record source, so a dead source is not asked on every search.

closed ──(N consecutive failures)──▶ open ──(cool-down passed)──▶ half_open
  ▲                                   ▲                              │
  └──────────── trial call succeeds ──┼──────────────────────────────┤
                                      └──── trial call fails ────────┘

While open, calls are refused at once (the lookup reports ``circuit_open``). After the
cool-down one trial call is let through; others keep being refused until it has answered.
The clock is injected (monotonic seconds) so tests drive time by hand.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from fieldid.records.base import CircuitState


class CircuitBreaker:
    def __init__(
        self, failure_threshold: int, cooldown_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if failure_threshold < 1 or cooldown_s < 0:
            raise ValueError("failure_threshold must be ≥ 1 and cooldown_s ≥ 0")
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False

    @property
    def state(self) -> CircuitState:
        with self._lock:
            return self._state()

    def _state(self) -> CircuitState:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.cooldown_s:
            return "half_open"
        return "open"

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def allow(self) -> bool:
        """May a call go out now? In half-open state, True once (the trial) until it reports."""
        with self._lock:
            state = self._state()
            if state == "closed":
                return True
            if state == "half_open" and not self._trial_in_flight:
                self._trial_in_flight = True
                return True
            return False

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial_in_flight = False

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._trial_in_flight or self._failures >= self.failure_threshold:
                self._opened_at = self._clock()  # (re)open: the cool-down starts again
            self._trial_in_flight = False

    def retry_in_s(self) -> float:
        """Seconds until a trial call will be allowed (0 when closed or half-open)."""
        with self._lock:
            if self._opened_at is None:
                return 0.0
            return max(0.0, self.cooldown_s - (self._clock() - self._opened_at))

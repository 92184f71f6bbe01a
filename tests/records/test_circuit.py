"""Circuit breaker transitions, driven by a hand-moved clock."""

from __future__ import annotations

import pytest

from fieldid.records.circuit import CircuitBreaker
from tests.records.conftest import FakeMonotonic


def test_opens_after_consecutive_failures_only():
    t = FakeMonotonic()
    cb = CircuitBreaker(3, 30, t)
    cb.record_failure()
    cb.record_failure()
    cb.record_success()  # a success in between resets the count
    cb.record_failure()
    cb.record_failure()
    assert cb.state == "closed" and cb.allow()
    cb.record_failure()
    assert cb.state == "open" and not cb.allow()
    assert cb.retry_in_s() == pytest.approx(30)


def test_half_open_lets_one_trial_through_and_closes_on_success():
    t = FakeMonotonic()
    cb = CircuitBreaker(1, 10, t)
    cb.record_failure()
    t.advance(9.9)
    assert not cb.allow()
    t.advance(0.1)
    assert cb.state == "half_open"
    assert cb.allow()  # the trial
    assert not cb.allow()  # nobody else while the trial is out
    cb.record_success()
    assert cb.state == "closed" and cb.allow() and cb.allow()


def test_a_failed_trial_reopens_for_a_full_cooldown():
    t = FakeMonotonic()
    cb = CircuitBreaker(2, 10, t)
    cb.record_failure()
    cb.record_failure()
    t.advance(10)
    assert cb.allow()
    cb.record_failure()
    assert cb.state == "open"
    t.advance(9)
    assert not cb.allow()
    t.advance(1)
    assert cb.allow()


def test_invalid_settings_are_refused():
    with pytest.raises(ValueError):
        CircuitBreaker(0, 1)
    with pytest.raises(ValueError):
        CircuitBreaker(1, -1)

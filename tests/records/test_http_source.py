"""HTTP connector against a real local server: retries with backoff, budgets, refusals, mapping."""

from __future__ import annotations

import time

import pytest

from fieldid.records.base import SourceError, SourceTimeout
from fieldid.records.http_source import _MISSING, json_path
from tests.records.conftest import http_source


def test_transient_failures_are_retried_with_backoff(registry, clock):
    registry.fail_next = 2
    source = http_source(registry.url, clock, retries=2, backoff_s=0.1)
    try:
        started = time.monotonic()
        records = source.lookup(["K-1"], timeout_s=3)
        elapsed = time.monotonic() - started
        assert {r.record_id for r in records} == {"R-1", "R-2"}
        assert registry.requests == 3
        assert elapsed >= 0.1 + 0.2  # two pauses, the second twice the first
    finally:
        source.close()


def test_retries_give_up_after_the_configured_attempts(registry, clock):
    registry.always_status = 503
    source = http_source(registry.url, clock, retries=1, backoff_s=0.01)
    try:
        with pytest.raises(SourceError, match="HTTP 503 after 2 attempts"):
            source.lookup(["K-1"], timeout_s=2)
        assert registry.requests == 2
    finally:
        source.close()


def test_a_refusal_is_not_retried(registry, clock):
    source = http_source(registry.url, clock, retries=3, token="wrong-token")
    try:
        with pytest.raises(SourceError, match="refused FieldID's credentials"):
            source.lookup(["K-1"], timeout_s=2)
        assert registry.requests == 1
    finally:
        source.close()


def test_a_slow_source_times_out_within_the_budget(registry, clock):
    registry.delay_s = 0.6
    source = http_source(registry.url, clock, retries=2)
    try:
        started = time.monotonic()
        with pytest.raises(SourceTimeout):
            source.lookup(["K-1"], timeout_s=0.25)
        assert time.monotonic() - started < 0.5  # retries never overrun the budget
    finally:
        source.close()


def test_per_attempt_timeouts_leave_room_for_a_retry(registry, clock):
    registry.delay_s = 0.3
    source = http_source(registry.url, clock, retries=5, backoff_s=0.01, request_timeout_s=0.1)
    try:
        started = time.monotonic()
        with pytest.raises(SourceTimeout):
            source.lookup(["K-1"], timeout_s=0.45)
        assert time.monotonic() - started < 0.7
        assert registry.requests >= 3  # several short attempts, not one long one
    finally:
        source.close()


def test_health_reports_an_unreachable_source(clock):
    source = http_source("http://127.0.0.1:1", clock)
    try:
        health = source.health(timeout_s=0.5)
        assert health.status == "error" and "cannot reach" in health.message
        with pytest.raises(SourceError, match="cannot reach the source"):
            source.lookup(["K-1"], timeout_s=0.3)
    finally:
        source.close()


def test_health_reports_a_slow_source_as_timeout(registry, clock):
    registry.delay_s = 0.5
    source = http_source(registry.url, clock)
    try:
        assert source.health(timeout_s=0.15).status == "timeout"
    finally:
        source.close()


def test_fields_are_mapped_by_json_paths(registry, clock):
    source = http_source(registry.url, clock)
    try:
        (r,) = [r for r in source.lookup(["K-1"], timeout_s=2) if r.record_id == "R-2"]
        assert r.record_type == "case" and r.subject_key == "K-1"
        assert r.fields == {
            "summary": "stopped for an identity check",
            "status": "open",
            "family_name": "Quarrie",
            "given_names": "Ada",
        }
    finally:
        source.close()


def test_records_without_id_or_key_are_refused(registry, clock):
    registry.data["K-1"][0].pop("id")
    source = http_source(registry.url, clock)
    try:
        with pytest.raises(SourceError, match="lacks its id"):
            source.lookup(["K-1"], timeout_s=2)
    finally:
        source.close()


def test_json_path():
    doc = {"a": {"b": [{"c": 1}, {"c": 2}]}, "n": None}
    assert json_path(doc, "a.b.1.c") == 2
    assert json_path(doc, "a.b.-1.c") == 2
    assert json_path(doc, "a.b.5.c") is _MISSING
    assert json_path(doc, "a.x") is _MISSING
    assert json_path(doc, "n") is None
    assert json_path(doc, "") == doc

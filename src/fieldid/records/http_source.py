"""A record source behind an HTTP/JSON API.

Two request shapes, chosen by ``lookup_path``:

* with ``{key}`` in it (``/persons/{key}/records``): one GET per subject key; 404 means no
  records under that key;
* without (``/records/lookup``): one POST of ``{"<keys_field>": [keys…]}`` for all keys.

The response is mapped with dotted JSON paths (``data.items``, ``meta.lastUpdated``,
``names.0.family``): ``records_path`` finds the list of records, then each record's id, subject
key, last-updated time, type and shown fields are read by their paths.

Every call has a budget (``timeout_s``): attempts, retries and backoff all fit inside it.
Connection errors, timeouts, 429 and 5xx answers are retried with exponential backoff; other
4xx answers are not (retrying a refusal only hammers the source).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from fieldid.clock import Clock, SystemClock
from fieldid.records.base import (
    Record,
    SourceDescription,
    SourceError,
    SourceHealth,
    SourceTimeout,
    as_utc,
    json_ready,
)

_MISSING = object()


@dataclass(frozen=True)
class HttpMapping:
    fields: Mapping[str, str]  # shown field name -> JSON path inside a record
    records_path: str = ""  # path from the response body to the list of records ("" = the body)
    record_id: str = "id"
    subject_key: str = "subject_key"
    updated_at: str = "updated_at"
    record_type: str | None = None  # path of the type; None: every record is `record_type_value`
    record_type_value: str = "record"


@dataclass(frozen=True)
class HttpEndpoint:
    base_url: str
    lookup_path: str = "/records/lookup"
    keys_field: str = "subject_keys"
    health_path: str = "/health"
    headers: Mapping[str, str] = field(default_factory=dict)  # e.g. the auth header
    retries: int = 2  # attempts after the first
    backoff_s: float = 0.1  # first pause; doubles per retry
    backoff_max_s: float = 2.0
    request_timeout_s: float | None = None  # per attempt; None: whatever is left of the budget
    verify_tls: bool = True


class HttpSource:
    def __init__(
        self,
        description: SourceDescription,
        endpoint: HttpEndpoint,
        mapping: HttpMapping,
        *,
        clock: Clock | None = None,
    ) -> None:
        self._description = description
        self.endpoint = endpoint
        self.mapping = mapping
        self._clock = clock or SystemClock()
        self._client = httpx.Client(
            base_url=endpoint.base_url.rstrip("/"),
            headers=dict(endpoint.headers),
            verify=endpoint.verify_tls,
            follow_redirects=False,
        )

    def describe(self) -> SourceDescription:
        return self._description

    def lookup(self, subject_keys: Sequence[str], *, timeout_s: float) -> list[Record]:
        keys = sorted(set(subject_keys))
        if not keys:
            return []
        deadline = time.monotonic() + timeout_s
        path = self.endpoint.lookup_path
        if "{key}" in path:
            out: list[Record] = []
            for key in keys:
                body = self._call(
                    "GET", path.replace("{key}", quote(key, safe="")), None, deadline, not_found_ok=True
                )
                if body is not _MISSING:
                    out.extend(self._records(body))
            return out
        return self._records(self._call("POST", path, {self.endpoint.keys_field: keys}, deadline))

    def health(self, *, timeout_s: float) -> SourceHealth:
        started = time.monotonic()
        status, message, details = "ok", "", {}
        try:
            response = self._send("GET", self.endpoint.health_path, None, timeout_s)
            details = {"http_status": response.status_code}
            if response.status_code >= 400:
                status, message = "error", f"health check answered HTTP {response.status_code}"
        except httpx.TimeoutException:
            status, message = "timeout", f"no answer within {timeout_s:.2g} s"
        except httpx.HTTPError as exc:
            status, message = "error", f"cannot reach the source ({type(exc).__name__})"
        return SourceHealth(
            self._description.name,
            status,
            round((time.monotonic() - started) * 1000, 1),
            message,
            self._clock.now(),
            details=details,
        )

    def close(self) -> None:
        self._client.close()

    # -- transport -------------------------------------------------------------------------------
    def _send(self, method: str, path: str, payload: Any, timeout_s: float) -> httpx.Response:
        return self._client.request(method, path, json=payload, timeout=httpx.Timeout(timeout_s))

    def _call(
        self, method: str, path: str, payload: Any, deadline: float, *, not_found_ok: bool = False
    ) -> Any:
        """The decoded JSON body, after retries within the deadline (``_MISSING`` for an allowed 404)."""
        ep = self.endpoint
        problem = "no attempt was made"
        for attempt in range(ep.retries + 1):
            left = deadline - time.monotonic()
            if left <= 0:
                raise SourceTimeout(f"no answer in time ({problem})")
            per_attempt = min(left, ep.request_timeout_s) if ep.request_timeout_s else left
            try:
                response = self._send(method, path, payload, per_attempt)
            except httpx.TimeoutException:
                problem = "the request timed out"
            except httpx.TransportError as exc:
                problem = f"cannot reach the source ({type(exc).__name__})"
            else:
                code = response.status_code
                if code == 404 and not_found_ok:
                    return _MISSING
                if 200 <= code < 300:
                    try:
                        return response.json()
                    except ValueError as exc:
                        raise SourceError("the source answered with something that is not JSON") from exc
                if code in (401, 403):
                    raise SourceError(f"the source refused FieldID's credentials (HTTP {code})")
                if code != 429 and code < 500:
                    raise SourceError(f"the source rejected the request (HTTP {code})")
                problem = f"HTTP {code}"
            if attempt < ep.retries:
                pause = min(
                    ep.backoff_s * 2**attempt, ep.backoff_max_s, max(0.0, deadline - time.monotonic())
                )
                time.sleep(pause)
        if "timed out" in problem:
            raise SourceTimeout(f"no answer in time after {ep.retries + 1} attempts")
        raise SourceError(f"{problem} after {ep.retries + 1} attempts")

    # -- mapping ---------------------------------------------------------------------------------
    def _records(self, body: Any) -> list[Record]:
        m = self.mapping
        items = json_path(body, m.records_path) if m.records_path else body
        if items is _MISSING or items is None:
            return []
        if not isinstance(items, list):
            raise SourceError(f"the response has no list of records at {m.records_path or '(body)'!r}")
        now = self._clock.now()
        return [self._record(item, now) for item in items]

    def _record(self, item: Any, now: datetime) -> Record:
        m = self.mapping
        record_id, key = json_path(item, m.record_id), json_path(item, m.subject_key)
        if record_id in (_MISSING, None) or key in (_MISSING, None):
            raise SourceError(f"a record lacks its id ({m.record_id!r}) or subject key ({m.subject_key!r})")
        updated = json_path(item, m.updated_at)
        try:
            updated_at = None if updated is _MISSING else as_utc(updated)
        except (ValueError, SourceError) as exc:
            raise SourceError(f"{m.updated_at!r} of a record is not a timestamp") from exc
        rtype = json_path(item, m.record_type) if m.record_type else _MISSING
        fields = {}
        for name, path in m.fields.items():
            value = json_path(item, path)
            fields[name] = None if value is _MISSING else json_ready(value)
        return Record(
            source=self._description.name,
            record_id=str(record_id),
            record_type=str(rtype) if rtype not in (_MISSING, None) else m.record_type_value,
            subject_key=str(key),
            fields=fields,
            updated_at=updated_at,
            retrieved_at=now,
            demo=self._description.demo,
        )


def json_path(value: Any, path: str) -> Any:
    """Follow a dotted path (``a.b.0.c``: keys, and list indices as integers); ``_MISSING`` when
    any step is absent."""
    for step in path.split(".") if path else ():
        if isinstance(value, Mapping) and step in value:
            value = value[step]
        elif isinstance(value, list) and step.lstrip("-").isdigit() and -len(value) <= int(step) < len(value):
            value = value[int(step)]
        else:
            return _MISSING
    return value

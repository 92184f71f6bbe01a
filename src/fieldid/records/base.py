"""The record-source interface and the values that cross it.

A :class:`RecordSource` is a connected record system (a database, an HTTP service, the demo
generator) that answers three questions: what are you (:meth:`~RecordSource.describe`), which
records do you hold under these subject keys (:meth:`~RecordSource.lookup`), and are you up
(:meth:`~RecordSource.health`). Who may see what, timeouts across sources and circuit breaking
live above it, in :mod:`fieldid.records.federation`; a connector only fetches.

Every :class:`Record` carries its provenance: the source that holds it, its id there, when the
source last changed it and when FieldID retrieved it. A record is never shown without it.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

#: "operational": real records (never reached in training mode); "training": practice records
#: for the training sandbox; "demo": synthetic records of the demo (reached by both).
SourceKind = Literal["operational", "training", "demo"]
#: Outcome of asking one source during one lookup. "not_linked": none of the candidates has a
#: key in the source's key system, so it was not asked.
StatusCode = Literal["ok", "timeout", "error", "circuit_open", "not_permitted", "not_linked"]
HealthCode = Literal["ok", "timeout", "error"]
CircuitState = Literal["closed", "open", "half_open"]


class SourceError(Exception):
    """A source could not answer. The message is shown to users and written to the audit log,
    so connectors word it themselves and never include subject keys, SQL or credentials."""


class SourceTimeout(SourceError):
    """The source did not answer within the time it was given."""


@dataclass(frozen=True)
class SourceDescription:
    """What a configured source is, as shown in the source list."""

    name: str  # unique, stable: records and statuses name their source by it
    title: str
    connector: Literal["sql", "http", "demo"]
    kind: SourceKind
    key_system: str  # the subject-key system whose keys this source understands
    record_types: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()  # every field a record of this source may carry
    demo: bool = False  # True for synthetic records (always labelled DEMO)


@dataclass(frozen=True)
class Record:
    """One record of a connected system about one subject key, with its provenance.

    ``fields`` holds JSON-ready values only (str, int, float, bool, None, lists and dicts of
    them; dates as ISO 8601 strings): see :func:`json_ready`. ``withheld_fields`` names the
    fields the caller's role may not see (set by the access policy), so a reader knows the
    record shown is a summary.
    """

    source: str
    record_id: str
    record_type: str
    subject_key: str
    fields: Mapping[str, Any]
    updated_at: dt.datetime | None  # the source's own last-updated time (None: the source has none)
    retrieved_at: dt.datetime
    demo: bool = False
    withheld_fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class SourceStatus:
    """How one source answered one lookup; every source in reach gets one, so a missing answer
    is always visible as such."""

    source: str
    status: StatusCode
    latency_ms: float | None = None
    message: str = ""
    records: int = 0


@dataclass(frozen=True)
class SourceHealth:
    source: str
    status: HealthCode
    latency_ms: float | None
    message: str
    checked_at: dt.datetime
    circuit: CircuitState = "closed"
    details: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class RecordSource(Protocol):
    """A connected record system. Implementations must be safe to call from several threads."""

    def describe(self) -> SourceDescription: ...

    def lookup(self, subject_keys: Sequence[str], *, timeout_s: float) -> list[Record]:
        """Records held under any of ``subject_keys`` (unknown keys give nothing), within
        ``timeout_s`` seconds; raises :class:`SourceError` (or any exception) on failure."""
        ...

    def health(self, *, timeout_s: float) -> SourceHealth:
        """Probe the source; never raises for an unreachable source (the status says so)."""
        ...

    def close(self) -> None:
        """Release connections and pools."""
        ...


def as_utc(value: Any) -> dt.datetime | None:
    """A source's timestamp as an aware UTC datetime. Naive values are taken as UTC (SQLite
    and many JSON APIs drop the zone); ISO 8601 strings and ``date`` values are accepted."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    elif isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if not isinstance(value, dt.datetime):
        raise SourceError(f"not a timestamp: {type(value).__name__}")
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def json_ready(value: Any) -> Any:
    """A database or JSON value as something every JSON encoder and the audit log accept."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        # exact: an amount stays "12.50", never 12.499999…
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(bytes(value))} bytes>"  # binary payloads are not shown in the field
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_ready(v) for v in value]
    return str(value)

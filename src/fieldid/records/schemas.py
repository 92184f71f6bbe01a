"""Recommended public schemas for records, for the HTTP API and ``--json`` CLI output.

Built from the records package's values with ``Model.model_validate(value)`` (attributes are
read), e.g. ``RecordOut.model_validate(record)``; :func:`lookup_json` gives a lookup's JSON.

Suggested use in the API: ``Candidate.records: list[RecordOut]``,
``IdentifyResponse.record_sources: list[SourceStatusOut]``, ``GET /v1/sources`` →
``list[SourceOut]``, ``GET /v1/sources/{name}/health`` → ``SourceHealthOut``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from fieldid.records.federation import LookupResult


class _Schema(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class RecordOut(_Schema):
    """One linked record with its provenance; ``fields`` holds only what the caller may see."""

    source: str = Field(description="Name of the record source (system) that holds the record.")
    record_id: str = Field(description="The record's id in its source.")
    record_type: str = Field(description="e.g. encounter, case, watch_list_entry, border_crossing.")
    subject_key: str = Field(description="The subject key the record is held under in its source.")
    fields: dict[str, Any] = Field(description="Fields the caller's role and agency may see (JSON values).")
    withheld_fields: list[str] = Field(
        description="Names of the record's fields not shown to this caller (the record is a summary)."
    )
    updated_at: datetime | None = Field(description="When the source last changed the record (its own time).")
    retrieved_at: datetime = Field(description="When FieldID retrieved the record from the source.")
    demo: bool = Field(description="Synthetic record (DEMO): no real person.")


class SourceStatusOut(_Schema):
    """How one source answered a lookup: every source in reach is listed, answered or not."""

    source: str
    status: Literal["ok", "timeout", "error", "circuit_open", "not_permitted", "not_linked"] = Field(
        description="ok: answered; timeout / error: did not answer, its records are missing from this "
        "response; circuit_open: skipped after repeated failures; not_permitted: the caller may not see "
        "this source here (role, or federated query only); not_linked: no candidate has a key in it."
    )
    latency_ms: float | None = None
    message: str = ""
    records: int = Field(
        0, description="Records the source returned for the candidates (before field filtering)."
    )


class SourceOut(_Schema):
    """A record source as the caller sees it in the source list."""

    name: str
    title: str
    connector: Literal["sql", "http", "demo"]
    kind: Literal["operational", "training", "demo"]
    key_system: str = Field(description="Subject-key system whose keys the source is looked up by.")
    record_types: list[str]
    demo: bool
    federated_only: bool = Field(description="Reached only by a federated query.")
    access: Literal["all", "summary", "fields", "none"] = Field(
        description="What the caller sees of its records."
    )
    visible_fields: list[str]
    circuit: Literal["closed", "open", "half_open"]


class SourceHealthOut(_Schema):
    source: str
    status: Literal["ok", "timeout", "error"]
    latency_ms: float | None
    message: str
    checked_at: datetime
    circuit: Literal["closed", "open", "half_open"]
    details: dict[str, Any] = {}


def lookup_json(result: LookupResult) -> dict[str, Any]:
    """A lookup as JSON-ready dicts:
    ``{"records_by_identity": {identity id: [record…]}, "record_sources": [status…]}``."""
    return {
        "records_by_identity": {
            identity_id: [RecordOut.model_validate(r).model_dump(mode="json") for r in records]
            for identity_id, records in result.records_by_identity.items()
        },
        "record_sources": [
            SourceStatusOut.model_validate(s).model_dump(mode="json") for s in result.statuses
        ],
    }

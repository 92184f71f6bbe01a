"""Record sources from a YAML file (the ``records_config`` setting); see docs/records.example.yaml.

The file is validated as a whole at start-up (unknown keys, unknown roles, field rules naming
fields the source does not map, duplicate names, demo sources in production are all errors
naming the source), so a typo never silently widens or narrows what an officer sees.
Secrets (database URLs with passwords, API tokens) are read from environment variables named
in the file (``url_env``, ``value_env``), never written in it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fieldid.clock import Clock
from fieldid.errors import InvalidRequest
from fieldid.governance.roles import Role
from fieldid.records.base import RecordSource, SourceDescription
from fieldid.records.demo_source import DemoSource, demo_description
from fieldid.records.http_source import HttpEndpoint, HttpMapping, HttpSource
from fieldid.records.policy import AccessRule, SourcePolicy
from fieldid.records.sql_source import SqlMapping, SqlSource
from fieldid.records.synthetic import DEFAULT_SEED, DEMO_SYSTEMS, SUMMARY_FIELDS

Rule = Literal["all", "summary", "none"] | list[str]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SqlSettings(_Strict):
    url: str | None = Field(None, description="SQLAlchemy URL (prefer url_env when it holds a password).")
    url_env: str | None = Field(None, description="Environment variable holding the SQLAlchemy URL.")
    schema_: str | None = Field(None, alias="schema", description="Database schema of the table.")
    table: str
    key_column: str = Field(description="Column holding the subject key.")
    id_column: str = Field(description="Column holding the record's id in the source.")
    updated_column: str = Field(description="Column holding the source's own last-updated time.")
    type_column: str | None = Field(None, description="Column holding the record type.")
    record_type: str = Field("record", description="Record type of every row when there is no type_column.")
    fields: dict[str, str] = Field(description="Shown field name -> column.")
    connect_timeout_s: float = Field(5.0, gt=0)

    @model_validator(mode="after")
    def _one_url(self) -> SqlSettings:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give exactly one of url and url_env")
        return self


class HttpAuth(_Strict):
    header: str = "Authorization"
    value_env: str = Field(description="Environment variable holding the token or header value.")
    scheme: str | None = Field("Bearer", description="Written before the value (None: the value as is).")


class HttpMappingSettings(_Strict):
    records_path: str = ""
    record_id: str = "id"
    subject_key: str = "subject_key"
    updated_at: str = "updated_at"
    record_type: str | None = None
    record_type_value: str = "record"
    fields: dict[str, str]


class HttpSettings(_Strict):
    base_url: str
    lookup_path: str = "/records/lookup"
    keys_field: str = "subject_keys"
    health_path: str = "/health"
    auth: HttpAuth | None = None
    retries: int = Field(2, ge=0, le=10)
    backoff_s: float = Field(0.1, ge=0)
    backoff_max_s: float = Field(2.0, ge=0)
    request_timeout_s: float | None = Field(None, gt=0)
    verify_tls: bool = True
    mapping: HttpMappingSettings


class DemoSettings(_Strict):
    system: Literal["demo-police", "demo-border", "demo-benefits"]
    seed: int = DEFAULT_SEED


class CircuitSettings(_Strict):
    failures: int | None = Field(None, ge=1)
    cooldown_s: float | None = Field(None, ge=0)


class _SourceBase(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.\-]{0,63}$")
    title: str = ""
    kind: Literal["operational", "training", "demo"] = "operational"
    key_system: str | None = Field(None, description="Subject-key system of the source (default: its name).")
    agencies: list[str] = Field(min_length=1, description='Agencies that reach the source; ["*"] for all.')
    federated_only: bool = False
    timeout_s: float | None = Field(None, gt=0, description="Budget per lookup (default: records_timeout_s).")
    circuit: CircuitSettings = CircuitSettings()
    record_types: list[str] = Field(default_factory=list)
    summary_fields: list[str] = Field(default_factory=list)
    access: dict[Role, Rule] = Field(default_factory=dict)
    agency_access: dict[str, dict[Role, Rule]] = Field(default_factory=dict)


class SqlSourceSettings(_SourceBase):
    type: Literal["sql"]
    sql: SqlSettings


class HttpSourceSettings(_SourceBase):
    type: Literal["http"]
    http: HttpSettings


class DemoSourceSettings(_SourceBase):
    type: Literal["demo"]
    kind: Literal["demo", "training"] = "demo"
    demo: DemoSettings


SourceSettings = Annotated[
    SqlSourceSettings | HttpSourceSettings | DemoSourceSettings, Field(discriminator="type")
]


class RecordsConfig(_Strict):
    sources: list[SourceSettings] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> RecordsConfig:
        names = [s.name for s in self.sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"source names must be unique: {dupes}")
        return self


@dataclass(frozen=True)
class ConfiguredSource:
    """A connector with its access policy and limits, as the broker holds it."""

    source: RecordSource
    policy: SourcePolicy
    timeout_s: float | None = None
    circuit_failures: int | None = None
    circuit_cooldown_s: float | None = None

    @property
    def name(self) -> str:
        return self.source.describe().name


def load_records_config(path: Path) -> RecordsConfig:
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidRequest(f"Cannot read the records configuration {path}: {exc}") from exc
    return parse_records_config(raw, origin=str(path))


def parse_records_config(raw: Any, *, origin: str = "records configuration") -> RecordsConfig:
    try:
        return RecordsConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise InvalidRequest(f"Invalid {origin}: {problems}") from exc


#: Field rules of the demo sources. Benefits and case work are social-care records: police
#: officers see nothing of them and supervisors a summary, to show the rules at work.
_DEMO_ACCESS: dict[str, dict[Role, Rule]] = {
    "*": {Role.OFFICER: "summary", Role.SUPERVISOR: "all", Role.TRAINEE: "summary"},
    "demo-benefits": {Role.OFFICER: "none", Role.SUPERVISOR: "summary", Role.TRAINEE: "summary"},
}


def demo_records_config(seed: int = DEFAULT_SEED) -> RecordsConfig:
    """The built-in demo sources (one per demo system), used when the server runs in demo mode
    without a records configuration. Trainees see summaries, to practise reading records."""
    return RecordsConfig(
        sources=[
            DemoSourceSettings(
                type="demo",
                name=system,
                agencies=["*"],
                demo=DemoSettings(system=system, seed=seed),
                summary_fields=[f for f in SUMMARY_FIELDS if f in demo_description(system).fields],
                access=_DEMO_ACCESS.get(system, _DEMO_ACCESS["*"]),
            )
            for system in DEMO_SYSTEMS
        ]
    )


def build_sources(
    config: RecordsConfig,
    *,
    clock: Clock,
    environment: str = "development",
    environ: Mapping[str, str] | None = None,
) -> list[ConfiguredSource]:
    """Connectors for every configured source. Nothing is contacted here: a source that is
    down at start-up shows as such in lookups and health checks."""
    env = os.environ if environ is None else environ
    built: list[ConfiguredSource] = []
    try:
        for s in config.sources:
            if s.type == "demo" and environment == "production":
                raise InvalidRequest(f"Source {s.name!r}: demo sources are refused in production.")
            source = _connector(s, clock, env)
            try:
                policy = _policy(s, source.describe())
            except BaseException:
                source.close()
                raise
            built.append(
                ConfiguredSource(source, policy, s.timeout_s, s.circuit.failures, s.circuit.cooldown_s)
            )
    except BaseException:
        for b in built:
            b.source.close()
        raise
    return built


def _connector(s: SourceSettings, clock: Clock, env: Mapping[str, str]) -> RecordSource:
    if isinstance(s, DemoSourceSettings):
        base = demo_description(s.demo.system, kind=s.kind, name=s.name)
        key_system = s.key_system or s.demo.system
        desc = SourceDescription(
            s.name,
            s.title or base.title,
            "demo",
            s.kind,
            key_system,
            base.record_types,
            base.fields,
            demo=True,
        )
        return DemoSource(desc, seed=s.demo.seed, clock=clock)
    if isinstance(s, SqlSourceSettings):
        q = s.sql
        types = tuple(s.record_types) or (() if q.type_column else (q.record_type,))
        desc = SourceDescription(
            s.name,
            s.title or s.name,
            "sql",
            s.kind,
            s.key_system or s.name,
            types,
            tuple(q.fields),
            demo=s.kind != "operational",
        )
        url = q.url if q.url is not None else _env(env, q.url_env, s.name)
        mapping = SqlMapping(
            q.table,
            q.key_column,
            q.id_column,
            q.updated_column,
            dict(q.fields),
            q.schema_,
            q.type_column,
            q.record_type,
        )
        return SqlSource(desc, url, mapping, clock=clock, connect_timeout_s=q.connect_timeout_s)
    h = s.http
    m = h.mapping
    types = tuple(s.record_types) or (() if m.record_type else (m.record_type_value,))
    desc = SourceDescription(
        s.name,
        s.title or s.name,
        "http",
        s.kind,
        s.key_system or s.name,
        types,
        tuple(m.fields),
        demo=s.kind != "operational",
    )
    headers = {}
    if h.auth is not None:
        value = _env(env, h.auth.value_env, s.name)
        headers[h.auth.header] = f"{h.auth.scheme} {value}" if h.auth.scheme else value
    endpoint = HttpEndpoint(
        h.base_url,
        h.lookup_path,
        h.keys_field,
        h.health_path,
        headers,
        h.retries,
        h.backoff_s,
        h.backoff_max_s,
        h.request_timeout_s,
        h.verify_tls,
    )
    mapping = HttpMapping(
        dict(m.fields),
        m.records_path,
        m.record_id,
        m.subject_key,
        m.updated_at,
        m.record_type,
        m.record_type_value,
    )
    return HttpSource(desc, endpoint, mapping, clock=clock)


def _policy(s: SourceSettings, desc: SourceDescription) -> SourcePolicy:
    known = set(desc.fields)

    def rule(r: Rule, where: str) -> AccessRule:
        if isinstance(r, list):
            unknown = sorted(set(r) - known)
            if unknown:
                raise InvalidRequest(f"Source {s.name!r}, {where}: unknown fields {unknown}.")
            return tuple(r)
        return r

    unknown = sorted(set(s.summary_fields) - known)
    if unknown:
        raise InvalidRequest(f"Source {s.name!r}, summary_fields: unknown fields {unknown}.")
    return SourcePolicy(
        kind=s.kind,
        agencies=None if "*" in s.agencies else frozenset(s.agencies),
        federated_only=s.federated_only,
        summary_fields=tuple(s.summary_fields),
        roles={role: rule(r, f"access.{role.value}") for role, r in s.access.items()},
        agency_roles={
            agency: {role: rule(r, f"agency_access.{agency}.{role.value}") for role, r in rules.items()}
            for agency, rules in s.agency_access.items()
        },
    )


def _env(env: Mapping[str, str], name: str | None, source: str) -> str:
    value = env.get(name or "")
    if not value:
        raise InvalidRequest(f"Source {source!r}: environment variable {name} is not set.")
    return value

"""Record-source fixtures: a real HTTP registry on 127.0.0.1 (stdlib server in a thread), a real
records table on SQLite and PostgreSQL, and actors of each role. ``clock`` (a ManualClock at
2026-03-01 09:00 UTC) comes from tests/conftest.py."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sqlalchemy as sa

from fieldid.clock import ManualClock
from fieldid.governance.actor import Actor
from fieldid.governance.roles import Role
from fieldid.records.base import SourceDescription
from fieldid.records.http_source import HttpEndpoint, HttpMapping, HttpSource
from fieldid.records.sql_source import SqlMapping, SqlSource

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
TOKEN = "registry-test-token"


def actor(role: Role, agency: str = "agency-a", *, training: bool = False) -> Actor:
    return Actor(
        f"{agency}-{role.value}",
        f"{agency}-{role.value}",
        agency,
        role,
        training_mode=training or role is Role.TRAINEE,
        via="test",
    )


class FakeMonotonic:
    """A monotonic clock for circuit breakers, moved by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


# -- HTTP: a small registry served for real ---------------------------------------------------------
def registry_record(
    record_id: str,
    key: str,
    *,
    updated: str = "2025-05-01T10:00:00Z",
    rtype: str = "encounter",
    summary: str = "stopped for an identity check",
    status: str = "closed",
) -> dict[str, Any]:
    return {
        "id": record_id,
        "type": rtype,
        "summary": summary,
        "status": status,
        "person": {"key": key, "names": [{"family": "Quarrie", "given": "Ada"}]},
        "meta": {"last_updated": updated},
    }


REGISTRY_DATA = {
    "K-1": [registry_record("R-1", "K-1"), registry_record("R-2", "K-1", rtype="case", status="open")],
    "K-2": [registry_record("R-3", "K-2", updated="2024-12-31T23:59:59+01:00")],
    "K-3": [],
}


class Registry:
    """State of one test registry; the handler reads it on every request."""

    def __init__(self) -> None:
        self.data: dict[str, list[dict[str, Any]]] = json.loads(json.dumps(REGISTRY_DATA))
        self.delay_s = 0.0
        self.fail_next = 0  # answer 503 to this many requests
        self.always_status: int | None = None  # answer this status to every request
        self.leak_all = False  # a buggy registry: answers every record it holds
        self.requests = 0
        self.lock = threading.Lock()
        self.url = ""

    def answer(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, Any]:
        with self.lock:
            self.requests += 1
            failing = self.fail_next > 0
            self.fail_next -= 1 if failing else 0
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.always_status is not None:
            return self.always_status, {"error": "as configured"}
        if failing:
            return 503, {"error": "busy"}
        if path == "/health":
            return 200, {"status": "ok"}
        if headers.get("Authorization") != f"Bearer {TOKEN}":
            return 401, {"error": "unauthenticated"}
        if method == "POST" and path == "/records/lookup":
            keys = json.loads(body)["subject_keys"]
            if self.leak_all:
                keys = list(self.data)
            return 200, {"data": {"records": [r for k in keys for r in self.data.get(k, [])]}}
        if method == "GET" and path.startswith("/persons/") and path.endswith("/records"):
            key = path[len("/persons/") : -len("/records")]
            if key not in self.data:
                return 404, {"error": "no such person"}
            return 200, {"data": {"records": self.data[key]}}
        return 404, {"error": "no route"}


def _handler(registry: Registry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            code, payload = registry.answer(self.command, self.path, self.headers, body)
            data = json.dumps(payload).encode()
            try:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout tests)

        do_GET = do_POST = _serve

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def registry() -> Iterator[Registry]:
    yield from _serve_registry()


@pytest.fixture
def second_registry() -> Iterator[Registry]:
    yield from _serve_registry()


def _serve_registry() -> Iterator[Registry]:
    state = Registry()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


HTTP_MAPPING = HttpMapping(
    fields={
        "summary": "summary",
        "status": "status",
        "family_name": "person.names.0.family",
        "given_names": "person.names.0.given",
    },
    records_path="data.records",
    record_id="id",
    subject_key="person.key",
    updated_at="meta.last_updated",
    record_type="type",
)


def http_source(
    url: str,
    clock: ManualClock,
    *,
    name: str = "registry",
    lookup_path: str = "/records/lookup",
    retries: int = 2,
    backoff_s: float = 0.02,
    token: str = TOKEN,
    key_system: str = "national-id",
    kind: str = "operational",
    request_timeout_s: float | None = None,
) -> HttpSource:
    desc = SourceDescription(
        name,
        "Test registry",
        "http",
        kind,
        key_system,
        ("encounter", "case"),  # type: ignore[arg-type]
        tuple(HTTP_MAPPING.fields),
    )
    endpoint = HttpEndpoint(
        url,
        lookup_path=lookup_path,
        headers={"Authorization": f"Bearer {token}"},
        retries=retries,
        backoff_s=backoff_s,
        request_timeout_s=request_timeout_s,
    )
    return HttpSource(desc, endpoint, HTTP_MAPPING, clock=clock)


# -- SQL: a records table on each database ----------------------------------------------------------
SQL_ROWS = [
    {
        "record_id": 1,
        "person_key": "P-100",
        "record_kind": "encounter",
        "summary_text": "identity check",
        "status": "closed",
        "opened": date(2024, 2, 1),
        "notes": "calm, cooperative",
        "last_modified": datetime(2024, 2, 2, 8, 30, tzinfo=UTC),
    },
    {
        "record_id": 2,
        "person_key": "P-100",
        "record_kind": "case",
        "summary_text": "fraud enquiry",
        "status": "open",
        "opened": date(2025, 7, 9),
        "notes": "awaiting bank statements",
        "last_modified": datetime(2025, 8, 1, 12, 0, tzinfo=UTC),
    },
    {
        "record_id": 3,
        "person_key": "P-200",
        "record_kind": "encounter",
        "summary_text": "witness",
        "status": "closed",
        "opened": date(2023, 1, 5),
        "notes": None,
        "last_modified": datetime(2023, 1, 5, 17, 45, tzinfo=UTC),
    },
]
SQL_FIELDS = {"summary": "summary_text", "status": "status", "opened_on": "opened", "officer_notes": "notes"}


def create_records_table(url: str, rows: list[dict[str, Any]] = SQL_ROWS) -> None:
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    table = sa.Table(
        "person_records",
        meta,
        sa.Column("record_id", sa.Integer, primary_key=True),
        sa.Column("person_key", sa.String(40), index=True),
        sa.Column("record_kind", sa.String(40)),
        sa.Column("summary_text", sa.Text),
        sa.Column("status", sa.String(20)),
        sa.Column("opened", sa.Date),
        sa.Column("notes", sa.Text, nullable=True),
        sa.Column("last_modified", sa.DateTime(timezone=True)),
    )
    meta.create_all(engine)
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":  # SQLite stores naive values: written as UTC
            rows = [{**r, "last_modified": r["last_modified"].replace(tzinfo=None)} for r in rows]
        conn.execute(table.insert(), rows)
    engine.dispose()


def sql_source(
    url: str,
    clock: ManualClock,
    *,
    name: str = "county",
    table: str = "person_records",
    key_system: str = "agency:agency-a",
) -> SqlSource:
    desc = SourceDescription(
        name, "County records", "sql", "operational", key_system, ("encounter", "case"), tuple(SQL_FIELDS)
    )
    mapping = SqlMapping(
        table=table,
        key_column="person_key",
        id_column="record_id",
        updated_column="last_modified",
        fields=SQL_FIELDS,
        type_column="record_kind",
    )
    return SqlSource(desc, url, mapping, clock=clock, connect_timeout_s=2)


@pytest.fixture(scope="module")
def pg_records_url() -> Iterator[str]:
    """A PostgreSQL database holding the person_records table, shared by a module's read-only
    tests (creating a database per test costs most of a second)."""
    import uuid

    from sqlalchemy.engine import make_url

    from tests.conftest import PG_URL, _pg_admin

    admin = _pg_admin()
    name = f"fieldid_records_{uuid.uuid4().hex[:12]}"
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    try:
        create_records_table(url)
        yield url
    finally:
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="module")
def sqlite_records_url(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('county') / 'county.db'}"
    create_records_table(url)
    return url

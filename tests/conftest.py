"""Shared fixtures: real models (loaded once), services on temporary storage, agencies and users."""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fieldid.clock import ManualClock
from fieldid.config import Settings
from fieldid.governance.actor import Actor
from fieldid.governance.admin import SYSTEM
from fieldid.governance.roles import Role
from fieldid.models.registry import FaceModelLoader
from fieldid.service import FieldID, SearchContext
from fieldid.storage.faiss_index import FaissIndex
from fieldid.storage.memory_index import MemoryIndex
from fieldid.storage.sql import SqlStore

TESTS = Path(__file__).parent
FIXTURES = TESTS / "fixtures"


def shared_data() -> Path:
    """../shared/data next to the checkout, else $FIELDID_SHARED_DATA, else /work/shared/data."""
    candidates = [os.environ.get("FIELDID_SHARED_DATA"), TESTS.parent.parent / "shared" / "data",
                  "/work/shared/data"]
    for c in candidates:
        if c and Path(c).is_dir():
            return Path(c)
    raise RuntimeError("The shared evaluation data (../shared/data) is missing: set FIELDID_SHARED_DATA.")


LFW = shared_data() / "faces" / "lfw-deepfunneled-dev"


def face(name: str) -> bytes:
    return (FIXTURES / "faces" / name).read_bytes()


def lfw(name: str, number: int) -> bytes:
    return (LFW / "images" / name / f"{name}_{number:04d}.jpg").read_bytes()


CTX = SearchContext(purpose="criminal_investigation", case_number="CASE-2026-001", legal_basis="test")


@pytest.fixture(scope="session")
def face_models() -> FaceModelLoader:
    loader = FaceModelLoader(Settings())
    loader.get()
    return loader


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 1, 9, 0, tzinfo=UTC))


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path / "data", environment="test")


@pytest.fixture
def service(settings, face_models, clock) -> FieldID:
    svc = FieldID(settings, SqlStore(settings.resolved_database_url), FaissIndex(settings.index_dir),
                  face_models=face_models, clock=clock)
    yield svc
    svc.close()


@pytest.fixture
def memory_service(tmp_path, face_models, clock) -> FieldID:
    s = Settings(data_dir=tmp_path / "mem", environment="test", index_backend="memory")
    svc = FieldID(s, SqlStore("sqlite://"), MemoryIndex(), face_models=face_models, clock=clock)
    yield svc
    svc.close()


@dataclass
class Agency:
    id: str
    admin: Actor
    officer: Actor
    officer2: Actor
    supervisor: Actor
    auditor: Actor
    trainee: Actor
    keys: dict[str, str]


def make_agency(svc: FieldID, agency_id: str, *, keys: bool = False) -> Agency:
    svc.create_agency(SYSTEM, agency_id, f"Agency {agency_id}")
    actors: dict[str, Actor] = {}
    issued: dict[str, str] = {}
    for short, role in (("admin", Role.AGENCY_ADMIN), ("officer", Role.OFFICER), ("officer2", Role.OFFICER),
                        ("supervisor", Role.SUPERVISOR), ("auditor", Role.AUDITOR), ("trainee", Role.TRAINEE)):
        username = f"{agency_id}-{short}"
        svc.create_user(SYSTEM, username, role, agency_id=agency_id)
        actors[short] = svc.actor_for(username, via="test")
        if keys:
            issued[short] = svc.issue_api_key(SYSTEM, username).api_key
    return Agency(agency_id, keys=issued, **actors)


@pytest.fixture
def agency(service) -> Agency:
    return make_agency(service, "agency-a")


# -- PostgreSQL ------------------------------------------------------------------------------------
PG_URL = os.environ.get("FIELDID_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _pg_admin():
    import sqlalchemy as sa

    engine = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as c:
            c.execute(sa.text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001
        pytest.fail(
            f"PostgreSQL is unreachable at {PG_URL} ({type(exc).__name__}: {exc}). The storage and governance "
            "tests run on PostgreSQL too: start it (scripts/test.sh does) or set FIELDID_TEST_POSTGRES_URL.",
            pytrace=False,
        )
    return engine


@contextmanager
def fresh_pg_database():
    """A new, empty PostgreSQL database's URL (dropped on exit)."""
    import uuid

    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    admin = _pg_admin()
    name = f"fieldid_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def pg_url():
    """A fresh, empty PostgreSQL database for one test (dropped afterwards)."""
    with fresh_pg_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """The store's URL on each supported database (contract and governance tests use this)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def any_service(store_url, tmp_path, face_models, clock):
    """A service on SQLite or PostgreSQL (parametrised through store_url)."""
    s = Settings(data_dir=tmp_path / "svc", environment="test", database_url=store_url)
    svc = FieldID(s, SqlStore(store_url), FaissIndex(s.index_dir), face_models=face_models, clock=clock)
    yield svc
    svc.close()

"""The relational store's contract, run on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select

from fieldid.governance.admin import SYSTEM
from fieldid.service import EnrollmentInfo, ImageInput
from fieldid.storage import repo
from fieldid.storage.sql import SqlStore
from fieldid.storage.tables import Agency, Base, Gallery
from tests.conftest import CTX, face, make_agency


def test_migrations_create_exactly_the_models_schema(store_url):
    store = SqlStore(store_url)
    try:
        assert set(Base.metadata.tables) <= set(inspect(store.engine).get_table_names())
        with store.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata)
        assert diff == [], f"models and migrations differ: {diff}"
        store.migrate()  # idempotent
    finally:
        store.dispose()


def test_aware_utc_datetimes_round_trip(store_url):
    store = SqlStore(store_url)
    try:
        when = datetime(2026, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)
        with store.write() as s:
            s.add(Agency(id="tz", name="tz", created_at=when))
        with store.read() as s:
            back = s.get(Agency, "tz").created_at
        assert back == when and back.tzinfo is not None
        with pytest.raises(Exception):
            with store.write() as s:
                s.add(Agency(id="naive", name="n", created_at=datetime(2026, 1, 1)))
    finally:
        store.dispose()


def test_write_rolls_back_on_error(store_url):
    store = SqlStore(store_url)
    try:
        with pytest.raises(RuntimeError):
            with store.write() as s:
                s.add(Agency(id="gone", name="x", created_at=datetime.now(UTC)))
                s.flush()
                raise RuntimeError("boom")
        with store.read() as s:
            assert s.get(Agency, "gone") is None
    finally:
        store.dispose()


def test_vectors_round_trip_bit_exactly():
    v = np.random.default_rng(0).normal(size=128).astype(np.float32)
    assert np.array_equal(repo.vector_from_bytes(repo.vector_bytes(v)), v)


def test_service_flow_on_each_database(any_service):
    svc = any_service
    agency = make_agency(svc, "agency-a")
    svc.create_gallery(agency.admin, "g")
    a = svc.enroll(agency.officer, "g", [ImageInput(face("person_a_1.jpg"))], EnrollmentInfo(legal_basis="t"))
    svc.enroll(agency.officer, "g", [ImageInput(face("person_b_1.jpg"))], EnrollmentInfo(legal_basis="t"))
    result = svc.identify(agency.officer, ["g"], face("person_a_2.jpg"), CTX)
    assert result.candidates[0].identity_id == a.identity.id and result.gallery_size == 2
    svc.delete_identity(agency.supervisor, a.identity.id, reason="test")
    assert svc.reconcile(repair=False).consistent
    with svc.store.read() as s:
        gallery = s.execute(select(Gallery).where(Gallery.name == "g")).scalar_one()
        assert gallery.identity_count == 1 and gallery.version == 3
    assert svc.list_users(SYSTEM)  # system admin sees all users

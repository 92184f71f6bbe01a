"""Face extraction in worker processes (setting extraction_workers): same templates as in the
server's thread, the same errors with their codes and details, and a worker that dies fails
only its request — the next one gets a new pool."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from fieldid.config import Settings
from fieldid.errors import ExtractionUnavailable, FieldIDError
from fieldid.service import EnrollmentInfo, FieldID, ImageInput
from fieldid.storage.faiss_index import FaissIndex
from fieldid.storage.sql import SqlStore
from tests.conftest import CTX, FIXTURES, face, make_agency


@pytest.fixture
def pooled(tmp_path, face_models):
    settings = Settings(data_dir=tmp_path / "data", environment="test")
    svc = FieldID(settings, SqlStore(settings.resolved_database_url), FaissIndex(settings.index_dir),
                  face_models=face_models)
    assert svc.start_extraction_workers(1) is svc.extraction_pool
    assert svc.extraction_pool.warm_up() == svc.face_model_id()
    yield svc
    svc.close()


def test_workers_extract_what_the_server_thread_would(pooled, face_models, tmp_path):
    in_thread = FieldID(Settings(data_dir=tmp_path / "plain", environment="test"),
                        SqlStore(f"sqlite:///{tmp_path / 'plain.db'}"), FaissIndex(tmp_path / "plain-index"),
                        face_models=face_models)
    try:
        assert in_thread.extraction_pool is None  # only a server starts workers
        for name in ("person_a_1.jpg", "two_faces.jpg"):
            d1, t1 = pooled.measure_face(face(name))
            d2, t2 = in_thread.measure_face(face(name))
            assert d1.sha256 == d2.sha256 and d1.rgb.shape == d2.rgb.shape
            np.testing.assert_allclose(t1.embedding, t2.embedding, atol=1e-6)
            assert t1.quality == t2.quality and len(t1.other_faces) == len(t2.other_faces)
    finally:
        in_thread.close()

    agency = make_agency(pooled, "agency-w")
    g = pooled.create_gallery(agency.admin, "pooled")
    ident = pooled.enroll(agency.officer, g.id, [ImageInput(face("person_a_1.jpg"), "a.jpg")],
                          EnrollmentInfo(legal_basis="t")).identity
    found = pooled.identify(agency.officer, [g.id], face("person_a_2.jpg"), CTX)
    assert found.candidates[0].identity_id == ident.id
    health = pooled.health()
    assert health["extraction_workers"] == 1 and health["face_models_loaded"]


def test_errors_cross_the_process_boundary_with_their_codes(pooled):
    with pytest.raises(FieldIDError) as bad:
        pooled.measure_face(b"\x89PNG\r\n\x1a\n not really a png")
    assert bad.value.code.startswith("image_")
    blank = (FIXTURES / "fingers" / "fvc2000_db2_101_1.tif").read_bytes()  # a fingerprint: no face
    with pytest.raises(FieldIDError) as none:
        pooled.measure_face(blank)
    assert none.value.code == "no_face" and none.value.details.get("detectors")


def test_a_dead_worker_fails_its_request_and_the_pool_recovers(pooled):
    pool = pooled.extraction_pool
    pids = list(pool._executor()._processes)  # noqa: SLF001 - the test kills a worker on purpose
    assert pids
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    with pytest.raises(ExtractionUnavailable) as exc:
        for _ in range(3):  # the executor notices the death on its next use at the latest
            pooled.measure_face(face("person_a_1.jpg"))
    assert exc.value.code == "extraction_unavailable"
    _, template = pooled.measure_face(face("person_a_1.jpg"))  # a new pool answers
    assert template.quality.acceptable


def test_bulk_enrolment_workers_extract_in_their_own_thread(tmp_path, monkeypatch):
    """Bulk enrolment's worker processes must not each start a pool of their own, whatever the
    settings say (only a server starts extraction workers)."""
    from fieldid import bulk

    monkeypatch.setattr(bulk, "_die_with_parent", lambda: None)  # not for the test process itself
    monkeypatch.setattr(bulk, "_worker", None)
    bulk._init(Settings(data_dir=tmp_path / "d", environment="development", extraction_workers=2))
    service, _ = bulk._worker
    assert service.extraction_pool is None


def test_a_server_starts_its_extraction_workers(tmp_path):
    """`fieldid serve` builds the app with its own service: its start-up starts the workers
    (the setting's -1 resolves to one per core outside tests) and health reports them."""
    from fastapi.testclient import TestClient

    from fieldid.api import create_app

    settings = Settings(data_dir=tmp_path / "srv", environment="test", extraction_workers=1)
    with TestClient(create_app(settings)) as client:
        service = client.app.state.service
        assert service.extraction_pool is not None and service.extraction_pool.workers == 1
        service.extraction_pool.warm_up()
        assert client.get("/v1/health").json()["extraction_workers"] == 1
    assert service.extraction_pool._pool is None  # noqa: SLF001 - closed with the server
    dev = Settings(data_dir=tmp_path / "d", environment="development")
    assert dev.resolved_extraction_workers >= 1
    assert Settings(data_dir=tmp_path / "t", environment="test").resolved_extraction_workers == 0

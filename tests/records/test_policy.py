"""Field-level access: reach by agency and training mode, the records.read ceiling, role rules
with agency overrides."""

from __future__ import annotations

from datetime import UTC, datetime

from fieldid.governance.roles import Role
from fieldid.records.base import Record
from fieldid.records.policy import SourcePolicy, apply_access, field_access, reaches
from tests.records.conftest import actor

OPERATIONAL = SourcePolicy(
    kind="operational",
    agencies=frozenset({"agency-a", "agency-b"}),
    summary_fields=("summary", "status"),
    roles={Role.AUDITOR: "all", Role.TRAINEE: "all"},  # configured, but operational needs records.read
    agency_roles={"agency-b": {Role.OFFICER: "none", Role.SUPERVISOR: ("summary", "opened_on")}},
)
DEMO = SourcePolicy(kind="demo", summary_fields=("summary",), roles={Role.TRAINEE: "summary"})
TRAINING = SourcePolicy(kind="training", roles={Role.TRAINEE: "all"})

RECORD = Record(
    "county",
    "1",
    "case",
    "P-1",
    {"summary": "s", "status": "open", "opened_on": "2025-01-01", "notes": "n"},
    datetime(2025, 1, 2, tzinfo=UTC),
    datetime(2026, 1, 1, tzinfo=UTC),
)


def test_officers_see_a_summary_and_supervisors_everything():
    officer = apply_access(RECORD, field_access(actor(Role.OFFICER), OPERATIONAL))
    assert officer.fields == {"summary": "s", "status": "open"}
    assert officer.withheld_fields == ("notes", "opened_on")
    supervisor = apply_access(RECORD, field_access(actor(Role.SUPERVISOR), OPERATIONAL))
    assert supervisor.fields == RECORD.fields and supervisor.withheld_fields == ()
    # provenance is untouched
    assert (officer.source, officer.record_id, officer.updated_at, officer.retrieved_at) == (
        RECORD.source,
        RECORD.record_id,
        RECORD.updated_at,
        RECORD.retrieved_at,
    )


def test_roles_without_records_read_never_see_operational_records_whatever_the_config():
    for role in (Role.AUDITOR, Role.AGENCY_ADMIN, Role.SYSTEM_ADMIN):
        assert not field_access(actor(role), OPERATIONAL).any
        assert apply_access(RECORD, field_access(actor(role), OPERATIONAL)) is None


def test_agency_overrides_replace_the_role_rule():
    assert not field_access(actor(Role.OFFICER, "agency-b"), OPERATIONAL).any
    sup_b = apply_access(RECORD, field_access(actor(Role.SUPERVISOR, "agency-b"), OPERATIONAL))
    assert sup_b.fields == {"summary": "s", "opened_on": "2025-01-01"}
    assert field_access(actor(Role.SUPERVISOR, "agency-b"), OPERATIONAL).level == "fields"


def test_other_agencies_do_not_reach_the_source():
    assert not reaches(actor(Role.SUPERVISOR, "agency-c"), OPERATIONAL)
    assert not field_access(actor(Role.SUPERVISOR, "agency-c"), OPERATIONAL).any
    assert reaches(actor(Role.SUPERVISOR, "agency-c"), DEMO)  # no agency list: every agency


def test_training_mode_reaches_only_training_and_demo_sources():
    trainee = actor(Role.TRAINEE)
    officer_training = actor(Role.OFFICER, training=True)
    for who in (trainee, officer_training):
        assert not reaches(who, OPERATIONAL)
        assert reaches(who, DEMO) and reaches(who, TRAINING)
    assert apply_access(RECORD, field_access(trainee, DEMO)).fields == {"summary": "s"}
    assert field_access(trainee, TRAINING).level == "all"
    # outside training mode the sandbox's practice records are not reached
    assert not reaches(actor(Role.OFFICER), TRAINING)


def test_unconfigured_roles_default_to_nothing():
    assert not field_access(actor(Role.AUDITOR), DEMO).any
    assert not field_access(actor(Role.TRAINEE), SourcePolicy(kind="demo")).any

"""The synthetic record generator: deterministic, plausible, labelled DEMO, pseudonymous keys only."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from fieldid.records.synthetic import (
    _FIRST,
    _LAST,
    DEMO_EPOCH,
    DEMO_SYSTEMS,
    RECORD_FIELDS,
    is_demo_key,
    person_name,
    synthetic_records,
    system_key,
)

AT = datetime(2026, 3, 1, tzinfo=UTC)
KEYS = [f"demo-{i:012x}" for i in range(300)]


def all_records(seed: int = 1, keys: list[str] = KEYS):
    out = []
    for system, types in DEMO_SYSTEMS.items():
        out += synthetic_records(
            seed, [system_key(system, k) for k in keys], source=system, record_types=types, retrieved_at=AT
        )
    return out


def test_deterministic_for_a_seed_and_different_across_seeds():
    a, b, c = all_records(1), all_records(1), all_records(2)
    assert a == b
    assert {r.record_id for r in a} != {r.record_id for r in c}
    assert len({r.record_id for r in a}) == len(a)  # ids are unique


def test_every_record_type_occurs_with_plausible_frequencies():
    counts = Counter(r.record_type for r in all_records())
    assert set(counts) == {t for types in DEMO_SYSTEMS.values() for t in types}
    people_listed = {r.subject_key for r in all_records() if r.record_type == "watch_list_entry"}
    assert 0.03 * len(KEYS) < len(people_listed) < 0.25 * len(KEYS)  # watch-list entries are rare


def test_records_are_labelled_demo_and_carry_their_fields_and_dates():
    for r in all_records():
        assert r.demo and r.record_id.startswith("DEMO-") and r.fields["summary"].startswith("DEMO")
        assert tuple(r.fields) == RECORD_FIELDS[r.record_type]
        assert r.updated_at <= DEMO_EPOCH and r.retrieved_at == AT
        assert datetime.fromisoformat(r.fields["date"]).date() <= r.updated_at.date()
        if "name" in r.fields:
            assert r.fields["name"].endswith("(DEMO)")


def test_names_are_made_up_and_the_same_in_every_system():
    key = KEYS[5]
    name = person_name(key)
    first, last = name.removesuffix(" (DEMO)").split(" ")
    assert first in _FIRST and last in _LAST
    assert (
        person_name(system_key("demo-border", key)) == name == person_name(system_key("demo-benefits", key))
    )
    names_in_records = {r.fields["name"] for r in all_records(keys=[key]) if "name" in r.fields}
    assert names_in_records <= {name}


def test_only_pseudonymous_keys_get_records():
    real_looking = ["Jane_Example", "John Example", "demo-", "demo-XYZ", "DEMO-TRV-nothex", "12345"]
    assert not any(is_demo_key(k) for k in real_looking)
    assert (
        synthetic_records(
            1, real_looking, source="demo-police", record_types=DEMO_SYSTEMS["demo-police"], retrieved_at=AT
        )
        == []
    )


def test_system_keys_are_derived_and_refuse_anything_else():
    assert system_key("demo-police", "demo-00000000abcd") == "demo-00000000abcd"
    assert system_key("demo-border", "demo-00000000abcd") == "DEMO-TRV-00000000ABCD"
    with pytest.raises(ValueError):
        system_key("demo-border", "Jane_Example")
    with pytest.raises(ValueError):
        system_key("elsewhere", "demo-00000000abcd")
    with pytest.raises(ValueError):
        synthetic_records(1, KEYS, source="x", record_types=("tax_return",), retrieved_at=AT)

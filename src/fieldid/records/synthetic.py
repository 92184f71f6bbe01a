"""Synthetic records for the demo and the tests: made-up people, plausible records, labelled DEMO.

Deterministic: the same seed and subject key always give the same records (ids, dates, names),
so a demo behaves the same on every machine and tests can assert on it. Records are generated
only for pseudonymous demo keys (``demo-<12 hex>`` as the demo gallery uses, or the keys
:func:`system_key` derives from them for the other demo systems); anything else — above all a
real name used as a key — gets nothing, so a synthetic record is never attached to a real
person. Names come from the lists below, never from a data set, and carry "(DEMO)".

Three demo systems, so one identity has keys in several systems:

========================  ====================  ====================================================
system                    keys                  record types
========================  ====================  ====================================================
``demo-police``           ``demo-<hex>``        encounter, case, watch_list_entry
``demo-border``           ``DEMO-TRV-<HEX>``    border_crossing
``demo-benefits``         ``DEMO-BEN-<HEX>``    benefits_claim, case_work (for caseworkers)
========================  ====================  ====================================================
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fieldid.records.base import Record

#: Dates are laid out before this day, never relative to "now", so records never change.
DEMO_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
DEFAULT_SEED = 20260101

DEMO_SYSTEMS: dict[str, tuple[str, ...]] = {
    "demo-police": ("encounter", "case", "watch_list_entry"),
    "demo-border": ("border_crossing",),
    "demo-benefits": ("benefits_claim", "case_work"),
}
#: Key prefix per system; the police system uses the demo gallery's own subject keys.
_KEY_PREFIX = {"demo-border": "DEMO-TRV-", "demo-benefits": "DEMO-BEN-"}
_DEMO_KEY = re.compile(r"^(?:demo-([0-9a-f]{12})|DEMO-(?:TRV|BEN)-([0-9A-F]{12}))$")

RECORD_FIELDS: dict[str, tuple[str, ...]] = {
    "encounter": ("summary", "date", "name", "location", "reason", "outcome", "unit"),
    "case": ("summary", "date", "status", "case_number", "category", "closed_on", "lead_unit"),
    "watch_list_entry": (
        "summary",
        "date",
        "status",
        "list_name",
        "category",
        "action_advised",
        "review_due",
        "listed_by",
    ),
    "border_crossing": (
        "summary",
        "date",
        "name",
        "date_of_birth",
        "nationality",
        "document_type",
        "document_number",
        "direction",
        "crossing_point",
    ),
    "benefits_claim": ("summary", "date", "status", "name", "programme", "claim_number"),
    "case_work": ("summary", "date", "status", "caseworker", "next_appointment", "notes"),
}
#: What an officer sees by default of every demo record.
SUMMARY_FIELDS = ("summary", "date", "status")

_FIRST = (
    "Arlo",
    "Bryn",
    "Cato",
    "Delphine",
    "Ezra",
    "Fable",
    "Greer",
    "Hollis",
    "Ilse",
    "Juno",
    "Kit",
    "Lark",
    "Milo",
    "Nell",
    "Orrin",
    "Pim",
    "Rue",
    "Soren",
    "Tove",
    "Ulla",
    "Vesper",
    "Wren",
)
_LAST = (
    "Ambry",
    "Brackwater",
    "Coldharbour",
    "Dimmock",
    "Eddowes",
    "Farrow",
    "Glasspool",
    "Hatherly",
    "Ivesley",
    "Jessop",
    "Kittering",
    "Lanyon",
    "Mossop",
    "Nethercott",
    "Orpwood",
    "Pennock",
    "Quarrie",
    "Rushworth",
    "Stobart",
    "Trebilcock",
    "Upshall",
    "Verrall",
)
_PLACES = (
    "Harbour Road",
    "Old Market Square",
    "Station Forecourt",
    "Riverside Park",
    "Elm Street",
    "Northgate Retail Park",
    "Canal Path",
    "Civic Centre",
)
_CROSSINGS = (
    "North Gate land border",
    "Port of Easthaven",
    "Westfield Airport T1",
    "Southbridge rail crossing",
)
_NATIONALITIES = ("XDA", "XDB", "XDC")  # made-up codes: no real country is implied
_PROGRAMMES = ("Housing support", "Disability allowance", "Jobseeker support", "Family credit")


def is_demo_key(key: str) -> bool:
    return _DEMO_KEY.match(key) is not None


def system_key(system: str, demo_key: str) -> str:
    """The key of the demo person ``demo_key`` (``demo-<hex>``) in a demo ``system``."""
    match = _DEMO_KEY.match(demo_key)
    if match is None or match.group(1) is None:
        raise ValueError("not a demo gallery subject key (demo-<12 hex>)")
    if system not in DEMO_SYSTEMS:
        raise ValueError(f"unknown demo system {system!r}")
    prefix = _KEY_PREFIX.get(system)
    return demo_key if prefix is None else prefix + match.group(1).upper()


def person_name(key: str) -> str:
    """The made-up name of a demo person; the same in every demo system."""
    h = _hash("name", _person(key))
    return f"{_FIRST[h % len(_FIRST)]} {_LAST[(h // 31) % len(_LAST)]} (DEMO)"


def synthetic_records(
    seed: int,
    subject_keys: Iterable[str],
    *,
    source: str,
    record_types: Sequence[str],
    retrieved_at: datetime,
) -> list[Record]:
    """Records of ``record_types`` for each pseudonymous key (non-demo keys give nothing)."""
    unknown = set(record_types) - set(RECORD_FIELDS)
    if unknown:
        raise ValueError(f"no synthetic generator for record types {sorted(unknown)}")
    out: list[Record] = []
    for key in sorted(set(subject_keys)):
        if not is_demo_key(key):
            continue
        rng = random.Random(_hash(str(seed), source, key))
        for rtype in record_types:
            for n in range(_how_many(rtype, rng)):
                fields, when = _FIELD_MAKERS[rtype](rng, key, n)
                updated = when + timedelta(days=rng.randint(0, 60), minutes=rng.randint(0, 1439))
                out.append(
                    Record(
                        source=source,
                        record_id=_record_id(seed, source, key, rtype, n),
                        record_type=rtype,
                        subject_key=key,
                        fields=fields,
                        updated_at=min(updated, DEMO_EPOCH),
                        retrieved_at=retrieved_at,
                        demo=True,
                    )
                )
    return out


# -- record makers -------------------------------------------------------------------------------
def _how_many(rtype: str, rng: random.Random) -> int:
    if rtype == "encounter":
        return rng.choices((0, 1, 2, 3), (35, 35, 20, 10))[0]
    if rtype == "case":
        return 1 if rng.random() < 0.4 else 0
    if rtype == "watch_list_entry":
        return 1 if rng.random() < 0.12 else 0  # most people are on no list
    if rtype == "border_crossing":
        return rng.choices((0, 1, 2, 4), (30, 30, 25, 15))[0]
    if rtype == "benefits_claim":
        return 1 if rng.random() < 0.3 else 0
    return 1 if rng.random() < 0.25 else 0  # case_work


def _day(rng: random.Random, max_days_back: int = 1500) -> datetime:
    return (DEMO_EPOCH - timedelta(days=rng.randint(1, max_days_back))).replace(hour=rng.randint(6, 22))


def _encounter(rng: random.Random, key: str, n: int) -> tuple[dict[str, Any], datetime]:
    when, place = _day(rng), rng.choice(_PLACES)
    reason = rng.choice(("identity check", "witness statement", "traffic stop", "welfare check"))
    return {
        "summary": f"DEMO encounter: {reason} at {place}",
        "date": when.date().isoformat(),
        "name": person_name(key),
        "location": place,
        "reason": reason,
        "outcome": rng.choice(("no further action", "advice given", "referred to case team")),
        "unit": f"DEMO patrol unit {rng.randint(1, 9)}",
    }, when


def _case(rng: random.Random, key: str, n: int) -> tuple[dict[str, Any], datetime]:
    when = _day(rng)
    status = rng.choice(("open", "closed", "closed"))
    category = rng.choice(("theft", "fraud", "missing person (reported)", "public order"))
    closed = (when + timedelta(days=rng.randint(10, 200))).date().isoformat() if status == "closed" else None
    return {
        "summary": f"DEMO case ({category}), {status}",
        "date": when.date().isoformat(),
        "status": status,
        "case_number": f"DEMO-CASE-{when.year}-{rng.randint(1000, 9999)}",
        "category": category,
        "closed_on": closed,
        "lead_unit": "DEMO investigations",
    }, when


def _watch_list(rng: random.Random, key: str, n: int) -> tuple[dict[str, Any], datetime]:
    when = _day(rng, 700)
    category = rng.choice(("wanted for questioning", "missing person", "court order"))
    return {
        "summary": f"DEMO watch-list entry: {category}",
        "date": when.date().isoformat(),
        "status": "active",
        "list_name": "DEMO regional watch list",
        "category": category,
        "action_advised": "Confirm identity by other means; this entry alone is no ground to detain.",
        "review_due": (when + timedelta(days=365)).date().isoformat(),
        "listed_by": "DEMO supervisor",
    }, when


def _border_crossing(rng: random.Random, key: str, n: int) -> tuple[dict[str, Any], datetime]:
    when, point = _day(rng), rng.choice(_CROSSINGS)
    direction = rng.choice(("entry", "exit"))
    person = random.Random(_hash("traveller", _person(key)))  # same passport data on every crossing
    born = date(person.randint(1950, 2005), person.randint(1, 12), person.randint(1, 28))
    return {
        "summary": f"DEMO border crossing ({direction}) at {point}",
        "date": when.date().isoformat(),
        "name": person_name(key),
        "date_of_birth": born.isoformat(),
        "nationality": person.choice(_NATIONALITIES),
        "document_type": "passport",
        "document_number": f"DEMO{person.randint(10**6, 10**7 - 1)}",
        "direction": direction,
        "crossing_point": point,
    }, when


def _benefits_claim(rng: random.Random, key: str, n: int) -> tuple[dict[str, Any], datetime]:
    when, programme = _day(rng), rng.choice(_PROGRAMMES)
    status = rng.choice(("in payment", "under review", "ended"))
    return {
        "summary": f"DEMO benefits claim: {programme}, {status}",
        "date": when.date().isoformat(),
        "status": status,
        "name": person_name(key),
        "programme": programme,
        "claim_number": f"DEMO-CLM-{rng.randint(10**5, 10**6 - 1)}",
    }, when


def _case_work(rng: random.Random, key: str, n: int) -> tuple[dict[str, Any], datetime]:
    when = _day(rng, 400)
    status = rng.choice(("active", "awaiting documents", "closed"))
    return {
        "summary": f"DEMO case work, {status}",
        "date": when.date().isoformat(),
        "status": status,
        "caseworker": f"DEMO caseworker {rng.randint(1, 40)}",
        "next_appointment": (DEMO_EPOCH + timedelta(days=rng.randint(3, 60))).date().isoformat()
        if status != "closed"
        else None,
        "notes": "Synthetic case-work note for the demo; no real person.",
    }, when


_FIELD_MAKERS = {
    "encounter": _encounter,
    "case": _case,
    "watch_list_entry": _watch_list,
    "border_crossing": _border_crossing,
    "benefits_claim": _benefits_claim,
    "case_work": _case_work,
}


_ID_CODE = {
    "encounter": "ENC",
    "case": "CASE",
    "watch_list_entry": "WL",
    "border_crossing": "BX",
    "benefits_claim": "CLM",
    "case_work": "CW",
}


def _record_id(seed: int, source: str, key: str, rtype: str, n: int) -> str:
    return f"DEMO-{_ID_CODE[rtype]}-{_hash(str(seed), source, key, rtype, str(n)) % 16**8:08X}"


def _person(key: str) -> str:
    match = _DEMO_KEY.match(key)
    assert match is not None
    return (match.group(1) or match.group(2)).lower()


def _hash(*parts: str) -> int:
    return int.from_bytes(
        hashlib.sha256("\x1f".join(("fieldid-synthetic", *parts)).encode()).digest()[:8], "big"
    )

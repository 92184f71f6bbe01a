"""Links from identities to record systems: (identity, system, key) rows in ``subject_keys``.

An identity's own ``Identity.subject_key`` column is its key in its agency's own record
system, named :func:`own_key_system` (``agency:<agency id>``); every other system's keys are
rows of ``subject_keys``. A source declares which system's keys it understands (its
``key_system``), and the broker asks it only for those. Functions take the caller's Session.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from fieldid.records.synthetic import DEMO_SYSTEMS, is_demo_key, system_key
from fieldid.storage.tables import Identity, SubjectKey


class LinkedKey(NamedTuple):
    system: str
    key: str


def own_key_system(agency_id: str) -> str:
    """The key system of an agency's own record system (where ``Identity.subject_key`` lives)."""
    return f"agency:{agency_id}"


def link_key(
    session: Session, identity: Identity, system: str, key: str, *, now: datetime, created_by: str = ""
) -> bool:
    """Link ``identity`` to ``key`` in ``system``; False when the link already exists."""
    system, key = system.strip(), key.strip()
    if not system or not key:
        raise ValueError("system and key must not be empty")
    if session.get(SubjectKey, (identity.id, system, key)) is not None:
        return False
    session.add(
        SubjectKey(
            identity_id=identity.id,
            system=system,
            key=key,
            agency_id=identity.agency_id,
            created_by=created_by,
            created_at=now,
        )
    )
    session.flush()
    return True


def unlink_key(session: Session, identity_id: str, system: str, key: str) -> bool:
    result = session.execute(
        delete(SubjectKey).where(
            SubjectKey.identity_id == identity_id, SubjectKey.system == system, SubjectKey.key == key
        )
    )
    return bool(result.rowcount)


def keys_of(session: Session, identity_ids: Sequence[str]) -> dict[str, list[LinkedKey]]:
    """Every key of each identity (its own subject key first), for the broker's lookup.

    The identities are the candidates a search already showed: access to them was checked
    there, so no agency filter applies here (an identity of a shared gallery brings its keys).
    """
    ids = list(dict.fromkeys(identity_ids))
    out: dict[str, list[LinkedKey]] = {i: [] for i in ids}
    if not ids:
        return out
    for ident_id, agency_id, own in session.execute(
        select(Identity.id, Identity.agency_id, Identity.subject_key).where(Identity.id.in_(ids))
    ).all():
        if own:
            out[ident_id].append(LinkedKey(own_key_system(agency_id), own))
    for row in session.execute(
        select(SubjectKey).where(SubjectKey.identity_id.in_(ids)).order_by(SubjectKey.system, SubjectKey.key)
    ).scalars():
        out[row.identity_id].append(LinkedKey(row.system, row.key))
    return out


def identities_with_key(session: Session, agency_id: str, system: str, key: str) -> list[str]:
    """Ids of the agency's identities linked to ``key`` in ``system`` (e.g. when a record system
    reports a change to a subject)."""
    linked = set(
        session.execute(
            select(SubjectKey.identity_id).where(
                SubjectKey.agency_id == agency_id, SubjectKey.system == system, SubjectKey.key == key
            )
        ).scalars()
    )
    if system == own_key_system(agency_id):
        linked |= set(
            session.execute(
                select(Identity.id).where(Identity.agency_id == agency_id, Identity.subject_key == key)
            ).scalars()
        )
    return sorted(linked)


def seed_demo_links(session: Session, identities: Iterable[Identity], *, now: datetime) -> int:
    """Give each demo identity keys in every demo system (see :mod:`fieldid.records.synthetic`).

    Only identities whose subject key is a pseudonymous demo key (``demo-<12 hex>``) are
    linked: an identity keyed by anything else, e.g. a data-set label that is a real name, gets
    no synthetic records. Idempotent; returns the number of links added.
    """
    added = 0
    for identity in identities:
        key = identity.subject_key or ""
        if not key.startswith("demo-") or not is_demo_key(key):
            continue
        for system in DEMO_SYSTEMS:
            added += link_key(session, identity, system, system_key(system, key), now=now, created_by="demo")
    return added

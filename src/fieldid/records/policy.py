"""Field-level access to connected records: which sources an actor reaches, and what of them.

Three rules, applied in this order for every source and every caller:

1. **Reach** (decided in :mod:`fieldid.governance.reach`). The caller's agency must be among
   the source's ``agencies`` (``*``: all). In training mode (trainees always are) only
   ``training`` and ``demo`` sources are reached — never an operational one; outside training
   mode ``training`` sources are not reached (mirroring galleries: the sandbox is for practice
   only). A ``federated_only`` source is
   reached only by a federated query.
2. **Ceiling.** Records of an ``operational`` source are shown only to roles with the
   ``records.read`` permission (officers, supervisors): configuration cannot lift that.
3. **Fields.** Per source, per role, with per-agency overrides: ``all``, ``summary`` (the
   source's ``summary_fields``), ``none``, or an explicit list of field names. Unconfigured
   roles fall back to :data:`DEFAULT_ROLE_ACCESS`: officers a summary, supervisors all,
   everyone else nothing.

Provenance (source, record id, record type, subject key, last-updated and retrieved times) is
always shown with a record; the fields are what the rules filter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from fieldid.governance import reach
from fieldid.governance.actor import Actor
from fieldid.governance.roles import Permission, Role
from fieldid.records.base import Record, SourceKind

#: A rule as written in the configuration.
AccessRule = Literal["all", "summary", "none"] | tuple[str, ...]

DEFAULT_ROLE_ACCESS: Mapping[Role, AccessRule] = {Role.OFFICER: "summary", Role.SUPERVISOR: "all"}


@dataclass(frozen=True)
class FieldAccess:
    """What one caller may see of one source's records."""

    level: Literal["all", "summary", "fields", "none"]
    fields: frozenset[str] | None = None  # None: every field (level "all")

    @property
    def any(self) -> bool:
        return self.level != "none"

    def allows(self, name: str) -> bool:
        return self.fields is None or name in self.fields


NO_ACCESS = FieldAccess("none", frozenset())


@dataclass(frozen=True)
class SourcePolicy:
    """The access part of one source's configuration."""

    kind: SourceKind
    agencies: frozenset[str] | None = None  # None: every agency
    federated_only: bool = False
    summary_fields: tuple[str, ...] = ()
    roles: Mapping[Role, AccessRule] = field(default_factory=dict)
    agency_roles: Mapping[str, Mapping[Role, AccessRule]] = field(default_factory=dict)


def reaches(actor: Actor, policy: SourcePolicy) -> bool:
    """Does the source exist for this actor at all? (Sources out of reach are never named.)"""
    return reach.record_source_in_reach(actor, policy.agencies, policy.kind)


def rule_for(actor: Actor, policy: SourcePolicy) -> AccessRule:
    role = Role(actor.role)
    override = policy.agency_roles.get(actor.agency_id, {})
    if role in override:
        return override[role]
    if role in policy.roles:
        return policy.roles[role]
    return DEFAULT_ROLE_ACCESS.get(role, "none")


def field_access(actor: Actor, policy: SourcePolicy) -> FieldAccess:
    """What ``actor`` may see of the records of a source it reaches."""
    if not reaches(actor, policy):
        return NO_ACCESS
    if policy.kind == "operational" and not actor.can(Permission.RECORDS_READ):
        return NO_ACCESS
    return resolve(rule_for(actor, policy), policy.summary_fields)


def resolve(rule: AccessRule, summary_fields: Sequence[str]) -> FieldAccess:
    if rule == "all":
        return FieldAccess("all", None)
    if rule == "summary":
        return FieldAccess("summary", frozenset(summary_fields))
    if rule == "none":
        return NO_ACCESS
    return FieldAccess("fields", frozenset(rule))


def apply_access(record: Record, access: FieldAccess) -> Record | None:
    """The record as this caller may see it (None: not at all)."""
    if not access.any:
        return None
    shown = {k: v for k, v in record.fields.items() if access.allows(k)}
    withheld = tuple(sorted(k for k in record.fields if not access.allows(k)))
    return replace(record, fields=shown, withheld_fields=withheld)

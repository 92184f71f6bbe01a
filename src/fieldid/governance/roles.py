"""Roles and permissions: the one table every route and service call checks."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    TRAINEE = "trainee"
    OFFICER = "officer"
    SUPERVISOR = "supervisor"
    AUDITOR = "auditor"
    AGENCY_ADMIN = "agency_admin"
    SYSTEM_ADMIN = "system_admin"


class Permission(StrEnum):
    SEARCH = "search"  # identify / verify within reach (trainees: training sandbox only)
    SEARCH_INVESTIGATIVE = "search.investigative"  # see candidates under the threshold, labelled
    SEARCH_FEDERATED = "search.federated"  # all galleries and record systems at once, with justification
    GALLERY_READ = "gallery.read"
    GALLERY_MANAGE = "gallery.manage"
    ENROLL = "enroll"
    IDENTITY_DELETE = "identity.delete"
    RECORDS_READ = "records.read"
    REVIEW = "review"  # confirm / reject candidates (two-person rule)
    AUTHORIZATION_ISSUE = "authorization.issue"  # record warrants / orders that searches cite
    CHALLENGE_FILE = "challenge.file"
    CHALLENGE_RESOLVE = "challenge.resolve"
    AUDIT_READ = "audit.read"
    AUDIT_EXPORT = "audit.export"
    REPORT_READ = "report.read"
    USER_MANAGE = "user.manage"
    SHARING_MANAGE = "sharing.manage"
    AGENCY_MANAGE = "agency.manage"
    RETENTION_RUN = "retention.run"


P = Permission
#: Who may do what. Auditors read and resolve but never search; admins manage but never search.
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.TRAINEE: frozenset({P.SEARCH, P.GALLERY_READ}),
    Role.OFFICER: frozenset({P.SEARCH, P.GALLERY_READ, P.ENROLL, P.RECORDS_READ, P.REVIEW, P.CHALLENGE_FILE}),
    Role.SUPERVISOR: frozenset(
        {
            P.SEARCH,
            P.SEARCH_INVESTIGATIVE,
            P.SEARCH_FEDERATED,
            P.GALLERY_READ,
            P.ENROLL,
            P.IDENTITY_DELETE,
            P.RECORDS_READ,
            P.REVIEW,
            P.CHALLENGE_FILE,
            P.REPORT_READ,
            P.AUTHORIZATION_ISSUE,
        }
    ),
    Role.AUDITOR: frozenset(
        {P.GALLERY_READ, P.AUDIT_READ, P.AUDIT_EXPORT, P.CHALLENGE_FILE, P.CHALLENGE_RESOLVE, P.REPORT_READ}
    ),
    Role.AGENCY_ADMIN: frozenset(
        {
            P.GALLERY_READ,
            P.GALLERY_MANAGE,
            P.ENROLL,
            P.IDENTITY_DELETE,
            P.USER_MANAGE,
            P.SHARING_MANAGE,
            P.CHALLENGE_FILE,
            P.REPORT_READ,
            P.AUTHORIZATION_ISSUE,
        }
    ),
    Role.SYSTEM_ADMIN: frozenset(
        {P.AGENCY_MANAGE, P.USER_MANAGE, P.AUDIT_READ, P.AUDIT_EXPORT, P.REPORT_READ, P.RETENTION_RUN, P.GALLERY_READ}
    ),
}


def has_permission(role: Role | str, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[Role(role)]

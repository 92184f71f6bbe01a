"""SQLAlchemy tables: one schema for SQLite (embedded) and PostgreSQL (scale).

Every row that belongs to an agency carries ``agency_id`` so that tenancy is enforced by the
queries themselves. Template rows are the source of truth for the vector index: their integer
``id`` is the vector id, and the index can always be rebuilt from them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from fieldid.storage.crypto import EncryptedBytes

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use aware UTC datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Agency(Base):
    __tablename__ = "agencies"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    requires_authorization: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class User(Base):
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"), index=True)
    username: Mapped[str] = mapped_column(String(120), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    training_mode: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Gallery(Base):
    __tablename__ = "galleries"
    __table_args__ = (UniqueConstraint("agency_id", "name", name="uq_galleries_agency_name"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    #: "operational" | "training" | "demo"
    kind: Mapped[str] = mapped_column(String(16), default="operational")
    target_fpir: Mapped[float] = mapped_column(Float)
    #: Bumped on every enrolment or deletion: searches record the version they saw.
    version: Mapped[int] = mapped_column(Integer, default=0)
    #: Identities enrolled (kept in step inside enrolment/deletion transactions): the N of
    #: every calibrated figure, read on each search without counting rows.
    identity_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Identity(Base):
    __tablename__ = "identities"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    gallery_id: Mapped[str] = mapped_column(ForeignKey("galleries.id", ondelete="CASCADE"), index=True)
    agency_id: Mapped[str] = mapped_column(String(64), index=True)
    #: Pseudonymous id shown in the field instead of a name where the role may not see names.
    pseudonym: Mapped[str] = mapped_column(String(32), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    #: Key of this person in the agency's own record system (links to records).
    subject_key: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    samples: Mapped[list[Sample]] = relationship(back_populates="identity", cascade="all, delete-orphan",
                                                passive_deletes=True)


class Sample(Base):
    __tablename__ = "samples"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    identity_id: Mapped[str] = mapped_column(ForeignKey("identities.id", ondelete="CASCADE"), index=True)
    gallery_id: Mapped[str] = mapped_column(String(36), index=True)
    modality: Mapped[str] = mapped_column(String(16))
    #: ANSI/NIST finger position 1–10 for fingers, None for faces.
    finger_position: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: Provenance: where the sample came from (e.g. "booking-station-3", "passport-chip").
    source: Mapped[str] = mapped_column(String(200), default="")
    captured_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: Legal basis / consent under which the sample is held (e.g. "consent:form-17", "statute:...").
    legal_basis: Mapped[str] = mapped_column(String(200))
    image_sha256: Mapped[str] = mapped_column(String(64))
    image_format: Mapped[str] = mapped_column(String(8))
    #: Reduced copy of the enrolment image for reviewers' candidate cards (JPEG).
    thumbnail: Mapped[bytes | None] = mapped_column(EncryptedBytes, nullable=True)
    quality_score: Mapped[float] = mapped_column(Float)
    quality: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    identity: Mapped[Identity] = relationship(back_populates="samples")


class Template(Base):
    __tablename__ = "templates"
    __table_args__ = (
        Index("ix_templates_space", "gallery_id", "model_id"),
        {"sqlite_autoincrement": True},  # never reuse a vector id after a rollback
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sample_id: Mapped[str] = mapped_column(ForeignKey("samples.id", ondelete="CASCADE"), index=True)
    identity_id: Mapped[str] = mapped_column(ForeignKey("identities.id", ondelete="CASCADE"), index=True)
    gallery_id: Mapped[str] = mapped_column(String(36))
    modality: Mapped[str] = mapped_column(String(16))
    model_id: Mapped[str] = mapped_column(String(120))
    #: Search vector (float32 little-endian): face embedding or fingerprint search key.
    vector: Mapped[bytes] = mapped_column(EncryptedBytes)
    #: Full template for exact matching (fingerprints: ISO/IEC 19794-2 record); None for faces.
    data: Mapped[bytes | None] = mapped_column(EncryptedBytes, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Search(Base):
    """One identification or verification: the receipt a challenge refers to."""

    __tablename__ = "searches"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # identify | verify
    gallery_ids: Mapped[list[str]] = mapped_column(JSON)
    purpose: Mapped[str] = mapped_column(String(64))
    case_number: Mapped[str] = mapped_column(String(120), index=True)
    legal_basis: Mapped[str] = mapped_column(String(200), default="")
    modality: Mapped[str] = mapped_column(String(16))
    probe_sha256: Mapped[str] = mapped_column(String(64))
    gallery_size: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(24))
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    training: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class ProbeImage(Base):
    """A search's probe image, kept only until ``expires_at`` (retention job)."""

    __tablename__ = "probe_images"
    search_id: Mapped[str] = mapped_column(ForeignKey("searches.id", ondelete="CASCADE"), primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64), index=True)
    image: Mapped[bytes] = mapped_column(EncryptedBytes)
    retention_class: Mapped[str] = mapped_column(String(32))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    #: A challenge under way freezes retention: the probe is kept until it is resolved.
    held_by: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuditEvent(Base):
    """Append-only, hash-chained event log (see governance/audit.py)."""

    __tablename__ = "audit_events"
    __table_args__ = {"sqlite_autoincrement": True}
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    event_type: Mapped[str] = mapped_column(String(48), index=True)
    agency_id: Mapped[str] = mapped_column(String(64), index=True)
    actor_id: Mapped[str] = mapped_column(String(64), index=True)
    purpose: Mapped[str | None] = mapped_column(String(64), nullable=True)
    case_number: Mapped[str | None] = mapped_column(String(120), nullable=True, index=True)
    gallery_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    payload: Mapped[str] = mapped_column(Text)  # canonical JSON, hashed as written
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class ApiKey(Base):
    """API keys: only an argon2 hash is stored; the prefix finds the row."""

    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(200))
    label: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AuditHead(Base):
    """The chain head (one row), locked while appending so the chain has one order."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """Where the chain continues after old events were purged by retention: verification
    starts from the newest checkpoint instead of the genesis hash."""

    __tablename__ = "audit_checkpoints"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(64))
    purged_events: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SharingAgreement(Base):
    """An owner agency lets a grantee agency search one gallery for some purposes until expiry."""

    __tablename__ = "sharing_agreements"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner_agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"), index=True)
    grantee_agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"), index=True)
    gallery_id: Mapped[str] = mapped_column(ForeignKey("galleries.id", ondelete="CASCADE"), index=True)
    purposes: Mapped[list[str]] = mapped_column(JSON)
    reference: Mapped[str] = mapped_column(String(200))  # the written agreement (e.g. an MoU number)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Authorization(Base):
    """A recorded authorisation (e.g. a warrant or a supervisor's order) a search may cite."""

    __tablename__ = "authorizations"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"), index=True)
    reference: Mapped[str] = mapped_column(String(200))
    case_number: Mapped[str | None] = mapped_column(String(120), nullable=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    issued_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    __table_args__ = (UniqueConstraint("agency_id", "reference", name="uq_authorizations_agency_reference"),)


class Review(Base):
    """One reviewer's independent decision on one candidate of one search."""

    __tablename__ = "reviews"
    __table_args__ = (UniqueConstraint("search_id", "identity_id", "reviewer_id", name="uq_reviews_once"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    search_id: Mapped[str] = mapped_column(ForeignKey("searches.id", ondelete="CASCADE"), index=True)
    identity_id: Mapped[str] = mapped_column(String(36), index=True)
    agency_id: Mapped[str] = mapped_column(String(64), index=True)
    reviewer_id: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(16))  # confirm | reject
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Evidence(Base):
    """Documentary evidence recorded by a reviewer; blocking evidence prevents confirmation."""

    __tablename__ = "evidence"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    search_id: Mapped[str] = mapped_column(ForeignKey("searches.id", ondelete="CASCADE"), index=True)
    identity_id: Mapped[str] = mapped_column(String(36), index=True)
    agency_id: Mapped[str] = mapped_column(String(64), index=True)
    recorded_by: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text)
    blocks_confirmation: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Challenge(Base):
    """A challenge (redress request) against a search receipt."""

    __tablename__ = "challenges"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    search_id: Mapped[str] = mapped_column(ForeignKey("searches.id"), index=True)
    agency_id: Mapped[str] = mapped_column(String(64), index=True)
    filed_by: Mapped[str] = mapped_column(String(64))
    on_behalf_of: Mapped[str] = mapped_column(String(16))  # subject | advocate
    contact: Mapped[str] = mapped_column(String(300))
    grounds: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True)  # open | upheld | dismissed
    resolution: Mapped[str | None] = mapped_column(Text, nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Misidentification(Base):
    """The register of upheld challenges: wrong candidates acted upon. Feeds published error rates."""

    __tablename__ = "misidentifications"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    challenge_id: Mapped[str] = mapped_column(ForeignKey("challenges.id"), index=True)
    search_id: Mapped[str] = mapped_column(String(36), index=True)
    identity_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    agency_id: Mapped[str] = mapped_column(String(64), index=True)
    details: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class SubjectKey(Base):
    """A key of an identity in one connected record system: one identity may have keys in
    several systems (and the identity's own ``subject_key`` is its key in its agency's system).
    Record sources are looked up by (system, key); see fieldid.records.links."""

    __tablename__ = "subject_keys"
    __table_args__ = (Index("ix_subject_keys_system_key", "system", "key"),)
    identity_id: Mapped[str] = mapped_column(
        ForeignKey("identities.id", ondelete="CASCADE"), primary_key=True
    )
    system: Mapped[str] = mapped_column(String(120), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    #: The identity's agency (tenancy: reverse look-ups by key are filtered by it).
    agency_id: Mapped[str] = mapped_column(String(64), index=True)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

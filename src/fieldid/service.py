"""The FieldID service: enrol, identify, verify, delete — the one place where the parts meet.

Every call takes the acting user (:class:`~fieldid.governance.actor.Actor`), checks its
permission and agency, and appends a typed audit event in the same transaction as the change
it records. Routes and CLI commands only parse input, call one method here, and format.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import cv2
import numpy as np
from sqlalchemy.orm import Session

from fieldid.calibration_io import find_calibration
from fieldid.clock import Clock, SystemClock
from fieldid.config import Settings
from fieldid.core.calibration import Calibration
from fieldid.core.face import extract_face
from fieldid.core.params import FaceParams, SearchParams
from fieldid.core.policy import Hit, OperatingPoint, Outcome, assess, decide, operating_point, strength_of
from fieldid.errors import (
    FieldIDError,
    GalleryExists,
    GalleryNotFound,
    IdentityNotFound,
    InvalidRequest,
    NoUsableSample,
    PossibleDuplicate,
    PurposeInvalid,
    PurposeRequired,
    SampleNotFound,
    SearchNotFound,
    TrainingModeViolation,
)
from fieldid.extraction_pool import ExtractionPool
from fieldid.fingers import (
    FINGER_MODEL_PREFIX,
    FingerInput,
    PreparedFinger,
    finger_template_row,
    prepare_fingers,
)
from fieldid.governance.actor import Actor
from fieldid.governance.admin import AdminOps
from fieldid.governance.audit import Event, EventType, append_event
from fieldid.governance.auth import ApiKeyAuthenticator
from fieldid.governance.oversight import OversightOps
from fieldid.governance.purpose import AuthorizationOps, RateLimiter, alert_event, check_authorization
from fieldid.governance.redress import RedressOps
from fieldid.governance.retention import RetentionOps
from fieldid.governance.review import ReviewOps
from fieldid.governance.roles import Permission
from fieldid.governance.sharing import SharingOps, active_agreements, reachable_galleries, searchable_gallery
from fieldid.imaging import DecodedImage, decode_image, encode_jpeg
from fieldid.models.registry import FaceModelLoader
from fieldid.multimodal import MultiModalOps
from fieldid.records import LookupResult, RecordBroker, SourceHealth, SourceView, record_access_event
from fieldid.result_views import (
    _calibration_ref,
    _candidate_view,
    _finger_quality_view,
    _quality_view,
    _training_feedback,
)
from fieldid.storage import repo
from fieldid.storage.base import VectorIndex, space_key
from fieldid.storage.reconcile import ReconcileReport, reconcile_index
from fieldid.storage.sql import SqlStore
from fieldid.storage.tables import Agency, Gallery, Identity, ProbeImage, Sample, Search, Template
from fieldid.types import FaceTemplate, Modality
from fieldid.views import (
    CandidateView,
    ComponentView,
    DuplicateView,
    EnrollResult,
    GalleryView,
    IdentifyResult,
    IdentityView,
    OperatingPointView,
    QualityView,
    RejectedImage,
    SampleView,
    VerifyResult,
)

log = logging.getLogger("fieldid.service")
_CASE_RE = re.compile(r"^[\w .:/#\-]{1,120}$", re.UNICODE)
_NAME_RE = re.compile(r"^[\w .\-]{1,120}$", re.UNICODE)
THUMBNAIL_SIDE = 200
#: Seconds an empty face-model note stays valid while the galleries' versions move on.
MODEL_NOTE_REFRESH_S = 60.0
#: (gallery versions, monotonic time, notes) of a face-model note.
_CachedNotes = tuple[tuple[int, ...], float, tuple[str, ...]]


@dataclass(frozen=True)
class ImageInput:
    data: bytes
    filename: str | None = None


@dataclass(frozen=True)
class PreparedSample:
    """An enrolment image after decoding and extraction (what gets stored, minus the image)."""

    sha256: str
    format: str
    thumbnail: bytes
    template: FaceTemplate


@dataclass(frozen=True)
class SearchContext:
    """Why a search is made: required on every search and recorded in the audit log."""

    purpose: str
    case_number: str
    legal_basis: str = ""
    authorization_ref: str | None = None
    justification: str | None = None


@dataclass(frozen=True)
class EnrollmentInfo:
    display_name: str = ""
    subject_key: str | None = None
    source: str = ""
    legal_basis: str = ""
    captured_at: datetime | None = None


class FieldID(MultiModalOps, AdminOps, SharingOps, AuthorizationOps, ReviewOps, RedressOps, RetentionOps, OversightOps):
    """The service. Build it with :meth:`open` (real storage) or pass the parts in (tests)."""

    def __init__(
        self,
        settings: Settings,
        store: SqlStore,
        index: VectorIndex,
        *,
        face_models: FaceModelLoader | None = None,
        clock: Clock | None = None,
        face_params: FaceParams | None = None,
        search_params: SearchParams | None = None,
        records: RecordBroker | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.index = index
        self.face_models = face_models or FaceModelLoader(settings)
        self.clock = clock or SystemClock()
        self.records = records if records is not None else RecordBroker.from_settings(settings, store, clock=self.clock)
        self.face_params = face_params or FaceParams()
        self.search_params = search_params or SearchParams()
        self._calibrations: dict[str, Calibration] = {}
        #: Face-model notes per (galleries, model): (their versions, monotonic time, notes); see
        #: :meth:`_face_model_notes`.
        self._model_notes: dict[tuple[tuple[str, ...], str], _CachedNotes] = {}
        self.api_keys = ApiKeyAuthenticator()
        self.rate_limiter = RateLimiter(settings.rate_limit_per_minute, settings.rate_alert_per_hour)
        self._jwt = None
        #: Face extraction worker processes, started by a server (:meth:`start_extraction_workers`).
        self.extraction_pool: ExtractionPool | None = None

    @classmethod
    def open(cls, settings: Settings, *, clock: Clock | None = None, reconcile: bool = True) -> FieldID:
        from fieldid.storage.factory import make_index, open_store

        store = open_store(settings)
        index = make_index(settings)
        service = cls(settings, store, index, clock=clock)
        if reconcile:
            service.reconcile()
        return service

    def start_extraction_workers(self, workers: int) -> ExtractionPool | None:
        """Extract faces in ``workers`` processes from now on (a server's choice: a one-shot
        command or a bulk-enrolment worker would spend longer starting them than it saves)."""
        if workers > 0 and self.extraction_pool is None:
            self.extraction_pool = ExtractionPool(self.settings, self.face_params, workers)
        return self.extraction_pool

    def close(self) -> None:
        if self.extraction_pool is not None:
            self.extraction_pool.close()
        self.records.close()
        self.index.flush(force=True)
        closer = getattr(self.index, "close", None)
        if closer:
            closer()
        self.store.dispose()

    # -- infrastructure ------------------------------------------------------------------------
    def reconcile(self, repair: bool = True) -> ReconcileReport:
        """Compare the index with the database; with ``repair``, fix it and audit the repair."""
        report = reconcile_index(self.store, self.index, repair=repair)
        if repair and not report.consistent:
            log.warning("index repaired from the database: %d missing vectors added, %d orphans removed",
                        report.missing_vectors, report.orphan_vectors)
            with self.store.write() as s:
                self._audit(s, Event(EventType.ADMIN, "system", "system", details={
                    "action": "index.reconcile", "missing_vectors_added": report.missing_vectors,
                    "orphan_vectors_removed": report.orphan_vectors}))
        return report

    def calibration(self, model_id: str) -> Calibration:
        cal = self._calibrations.get(model_id)
        if cal is None:
            cal = find_calibration(model_id, self.settings.calibration_dir)
            self._calibrations[model_id] = cal
        return cal

    def face_model_id(self) -> str:
        return self.face_models.embedder_model_id

    def _now(self) -> datetime:
        return self.clock.now()

    def _audit(self, session: Session, event: Event) -> None:
        append_event(session, event, self._now())

    def authenticate(self, token: str) -> Actor:
        """The actor behind an API key (or, when configured, a JWT bearer token)."""
        from fieldid.errors import Unauthenticated

        if token.startswith("fid_"):
            with self.store.read() as s:
                return self.api_keys.authenticate(s, token, self._now())
        if self.settings.jwt_issuer and token.count(".") == 2:
            if self._jwt is None:
                from fieldid.governance.jwt_auth import JwtAuthenticator

                self._jwt = JwtAuthenticator(self.settings)
            with self.store.write() as s:  # may provision the user (audited)
                return self._jwt.authenticate(s, token, self._now())
        raise Unauthenticated("Unknown credentials.")

    def ensure_agency(self, agency_id: str, name: str) -> None:
        with self.store.write() as s:
            if s.get(Agency, agency_id) is None:
                s.add(Agency(id=agency_id, name=name, created_at=self._now()))

    # -- galleries -----------------------------------------------------------------------------
    def create_gallery(
        self,
        actor: Actor,
        name: str,
        *,
        description: str = "",
        target_fpir: float | None = None,
        kind: str = "operational",
    ) -> GalleryView:
        actor.require(Permission.GALLERY_MANAGE)
        if not _NAME_RE.match(name or ""):
            raise InvalidRequest("Gallery name: 1–120 letters, digits, spaces, '.', '-' or '_'.")
        if kind not in ("operational", "training", "demo"):
            raise InvalidRequest("Gallery kind must be operational, training or demo.")
        fpir = self.settings.default_fpir if target_fpir is None else float(target_fpir)
        if not 0.0 < fpir < 0.5:
            raise InvalidRequest("target_fpir must be between 0 and 0.5.")
        with self.store.write() as s:
            if repo.gallery_by_ref(s, actor.agency_id, name) is not None:
                raise GalleryExists(f"The agency already has a gallery named {name!r}.")
            row = Gallery(
                id=str(uuid.uuid4()),
                agency_id=actor.agency_id,
                name=name,
                description=description[:2000],
                kind=kind,
                target_fpir=fpir,
                version=0,
                identity_count=0,
                created_at=self._now(),
            )
            s.add(row)
            s.flush()
            self._audit(s, Event(EventType.GALLERY_CREATE, actor.agency_id, actor.user_id, gallery_id=row.id,
                                 details={"name": name, "kind": kind, "target_fpir": fpir}))
            return _gallery_view(row)

    def list_galleries(self, actor: Actor) -> list[GalleryView]:
        actor.require(Permission.GALLERY_READ)
        with self.store.read() as s:
            rows = [_gallery_view(g) for g in repo.galleries_of(s, actor.agency_id) if self._gallery_visible(actor, g)]
            if not actor.training_mode:
                own = {g.id for g in rows}
                for agreement in active_agreements(s, actor.agency_id, self._now()):
                    g = s.get(Gallery, agreement.gallery_id)
                    if g is not None and g.id not in own:
                        rows.append(_gallery_view(g, shared=True))
                        own.add(g.id)
            return rows

    def get_gallery(self, actor: Actor, ref: str) -> GalleryView:
        actor.require(Permission.GALLERY_READ)
        with self.store.read() as s:
            gallery, shared = searchable_gallery(s, actor, ref, None, self._now())
            return _gallery_view(gallery, shared=shared)

    def set_gallery_fpir(self, actor: Actor, ref: str, target_fpir: float) -> GalleryView:
        actor.require(Permission.GALLERY_MANAGE)
        if not 0.0 < target_fpir < 0.5:
            raise InvalidRequest("target_fpir must be between 0 and 0.5.")
        with self.store.write() as s:
            g = self._gallery(s, actor, ref)
            old = g.target_fpir
            g.target_fpir = float(target_fpir)
            self._audit(s, Event(EventType.GALLERY_UPDATE, actor.agency_id, actor.user_id, gallery_id=g.id,
                                 details={"target_fpir": [old, g.target_fpir]}))
            return _gallery_view(g)

    def _gallery_visible(self, actor: Actor, g: Gallery) -> bool:
        if actor.training_mode:
            return g.kind == "training"
        return True

    def _gallery(self, s: Session, actor: Actor, ref: str) -> Gallery:
        g = repo.gallery_by_ref(s, actor.agency_id, ref)
        if g is None:
            raise GalleryNotFound(f"No gallery {ref!r} in reach.")
        if actor.training_mode and g.kind != "training":
            raise TrainingModeViolation("In training mode only the training sandbox can be reached.")
        return g

    # -- enrolment -----------------------------------------------------------------------------
    def enroll(
        self,
        actor: Actor,
        gallery_ref: str,
        images: Sequence[ImageInput],
        info: EnrollmentInfo,
        *,
        on_duplicate: str = "report",
        fingers: Sequence[FingerInput] = (),
    ) -> EnrollResult:
        """Create an identity from face images and/or fingerprints (atomically with its vectors)."""
        actor.require(Permission.ENROLL)
        if on_duplicate not in ("report", "reject"):
            raise InvalidRequest("on_duplicate must be 'report' or 'reject'.")
        if not info.legal_basis.strip():
            raise InvalidRequest("Enrolment needs the legal basis (or consent reference) for holding the images.")
        with self.store.read() as s:
            gallery = self._gallery(s, actor, gallery_ref)
            gallery_id = gallery.id
        accepted, rejected = self._extract_for_enrolment(images, fingers)
        result = self._enroll_accepted(actor, gallery_id, accepted, info, on_duplicate)
        return EnrollResult(identity=result.identity, accepted=result.accepted, rejected=tuple(rejected),
                            possible_duplicates=result.possible_duplicates)

    def enroll_prepared(
        self, actor: Actor, gallery_ref: str, samples: Sequence[PreparedSample], info: EnrollmentInfo,
        *, on_duplicate: str = "report",
    ) -> EnrollResult:
        """Enrol already-extracted samples (bulk enrolment extracts in worker processes)."""
        actor.require(Permission.ENROLL)
        if not info.legal_basis.strip():
            raise InvalidRequest("Enrolment needs the legal basis (or consent reference) for holding the images.")
        usable = [p for p in samples if p.template.quality.acceptable]
        if not usable:
            raise NoUsableSample("None of the samples is of enrolment quality.")
        with self.store.read() as s:
            gallery_id = self._gallery(s, actor, gallery_ref).id
        return self._enroll_accepted(actor, gallery_id, usable, info, on_duplicate)

    def _enroll_accepted(
        self, actor: Actor, gallery_id: str, accepted: list[PreparedSample], info: EnrollmentInfo, on_duplicate: str
    ) -> EnrollResult:
        duplicates = self._duplicates(gallery_id, accepted) if self.settings.duplicate_check else []
        if duplicates and on_duplicate == "reject":
            raise PossibleDuplicate(
                "The person may already be enrolled in this gallery.",
                possible_duplicates=[d.__dict__ for d in duplicates],
            )
        view = self._write_samples(actor, gallery_id, str(uuid.uuid4()), accepted, info, new_identity=True,
                                   duplicates=duplicates)
        return EnrollResult(identity=view, accepted=len(accepted), rejected=(), possible_duplicates=tuple(duplicates))

    def add_samples(
        self, actor: Actor, identity_id: str, images: Sequence[ImageInput], info: EnrollmentInfo,
        *, fingers: Sequence[FingerInput] = (),
    ) -> EnrollResult:
        actor.require(Permission.ENROLL)
        if not info.legal_basis.strip():
            raise InvalidRequest("Enrolment needs the legal basis (or consent reference) for holding the images.")
        with self.store.read() as s:
            ident = self._identity(s, actor, identity_id)
            gallery_id = ident.gallery_id
        accepted, rejected = self._extract_for_enrolment(images, fingers)
        view = self._write_samples(actor, gallery_id, identity_id, accepted, info, new_identity=False, duplicates=[])
        return EnrollResult(identity=view, accepted=len(accepted), rejected=tuple(rejected), possible_duplicates=())

    def _extract_for_enrolment(
        self, images: Sequence[ImageInput], fingers: Sequence[FingerInput] = ()
    ) -> tuple[list[PreparedSample | PreparedFinger], list[RejectedImage]]:
        if not images and not fingers:
            raise InvalidRequest("Send at least one image.")
        if len(images) + len(fingers) > 20:
            raise InvalidRequest("At most 20 images per enrolment request.")
        accepted: list[PreparedSample | PreparedFinger] = []
        rejected: list[RejectedImage] = []
        for j, finger in enumerate(fingers):  # indexes continue after the face images
            index, name = len(images) + j, finger.filename or f"finger-{finger.position}"
            try:
                prints = prepare_fingers(finger, self.settings)
            except FieldIDError as exc:
                rejected.append(RejectedImage(index, name, exc.code, exc.message))
                continue
            usable = [p for p in prints if p.template.quality.acceptable]
            if not usable:
                q = prints[0].template.quality
                rejected.append(RejectedImage(index, name, "quality_too_low",
                                              " ".join(i.message for i in q.issues if i.blocking),
                                              _finger_quality_view(prints[0])))
                continue
            # one print per position: of several fingers in a photo, the first (leftmost) usable
            accepted.extend(usable if finger.position == 0 else usable[:1])
        for i, image in enumerate(images):
            try:
                prepared = self.prepare_sample(image.data, jitters=self.settings.enroll_jitters)
            except FieldIDError as exc:
                rejected.append(RejectedImage(i, image.filename, exc.code, exc.message))
                continue
            template = prepared.template
            if not template.quality.acceptable:
                blocking = [q for q in template.quality.issues if q.blocking]
                rejected.append(RejectedImage(i, image.filename, "quality_too_low",
                                              " ".join(q.message for q in blocking), _quality_view(template)))
                continue
            accepted.append(prepared)
        if not accepted:
            raise NoUsableSample(
                "None of the images can be enrolled.",
                rejected=[{"index": r.index, "filename": r.filename, "code": r.code, "message": r.message}
                          for r in rejected],
            )
        return accepted, rejected

    def _duplicates(self, gallery_id: str, accepted: Sequence[PreparedSample | PreparedFinger]) -> list[DuplicateView]:
        accepted = [p for p in accepted if isinstance(p, PreparedSample)]
        if not accepted:
            return []
        model_id = accepted[0].template.model
        cal = self.calibration(model_id)
        with self.store.read() as s:
            gallery = s.get(Gallery, gallery_id)
            assert gallery is not None
            n = max(1, gallery.identity_count)
            point = operating_point(cal, gallery.target_fpir, n)
            best: dict[str, tuple[float, Template]] = {}
            for prepared in accepted:
                for ident, (score, row) in self._search_face(s, [space_key(gallery_id, model_id)],
                                                             prepared.template.embedding, 20).items():
                    if score >= point.threshold and score > best.get(ident, (-2.0,))[0]:
                        best[ident] = (score, row)
            out = []
            for ident, (score, _row) in sorted(best.items(), key=lambda kv: -kv[1][0]):
                identity = s.get(Identity, ident)
                if identity is not None:
                    out.append(DuplicateView(ident, identity.pseudonym, identity.gallery_id, score,
                                             float(cal.fmr(score))))
            return out

    def _write_samples(
        self,
        actor: Actor,
        gallery_id: str,
        identity_id: str,
        accepted: Sequence[PreparedSample | PreparedFinger],
        info: EnrollmentInfo,
        *,
        new_identity: bool,
        duplicates: list[DuplicateView],
    ) -> IdentityView:
        now = self._now()
        added: list[tuple[str, np.ndarray]] = []
        try:
            with self.store.write() as s:
                gallery = s.get(Gallery, gallery_id)
                if gallery is None:
                    raise GalleryNotFound("The gallery was deleted during enrolment.")
                if new_identity:
                    identity = Identity(
                        id=identity_id,
                        gallery_id=gallery_id,
                        agency_id=gallery.agency_id,
                        pseudonym=_pseudonym(),
                        display_name=info.display_name[:200],
                        subject_key=(info.subject_key or None),
                        created_at=now,
                        created_by=actor.user_id,
                    )
                    s.add(identity)
                    gallery.identity_count += 1
                else:
                    identity = s.get(Identity, identity_id)
                    if identity is None:
                        raise IdentityNotFound("The identity was deleted during enrolment.")
                gallery.version += 1
                templates: list[Template] = []
                for prepared in accepted:
                    template = prepared.template
                    finger = isinstance(prepared, PreparedFinger)
                    sample = Sample(
                        id=str(uuid.uuid4()),
                        identity_id=identity_id,
                        gallery_id=gallery_id,
                        modality=Modality.FINGER.value if finger else Modality.FACE.value,
                        finger_position=prepared.position if finger else None,
                        source=info.source[:200],
                        captured_at=info.captured_at,
                        legal_basis=info.legal_basis[:200],
                        image_sha256=prepared.sha256,
                        image_format=prepared.format,
                        thumbnail=prepared.thumbnail,
                        quality_score=template.quality.score,
                        quality=_quality_json(template),
                        created_at=now,
                    )
                    s.add(sample)
                    s.flush()  # parent rows first: templates reference the sample and identity
                    if finger:
                        row = finger_template_row(prepared, sample_id=sample.id, identity_id=identity_id,
                                                  gallery_id=gallery_id, now=now)
                        s.add(row)
                        templates.append(row)
                        continue
                    row = Template(
                        sample_id=sample.id,
                        identity_id=identity_id,
                        gallery_id=gallery_id,
                        modality=Modality.FACE.value,
                        model_id=template.model,
                        vector=repo.vector_bytes(template.embedding),
                        data=None,
                        created_at=now,
                    )
                    s.add(row)
                    templates.append(row)
                s.flush()
                by_space: dict[str, list[Template]] = {}
                for t in templates:
                    by_space.setdefault(space_key(gallery_id, t.model_id), []).append(t)
                for space, rows in by_space.items():
                    ids = np.array([t.id for t in rows], np.int64)
                    self.index.add(space, ids, np.stack([repo.vector_from_bytes(t.vector) for t in rows]))
                    added.append((space, ids))
                self._audit(s, Event(
                    EventType.ENROLL if new_identity else EventType.SAMPLE_ADD,
                    actor.agency_id, actor.user_id, gallery_id=gallery_id,
                    details={
                        "identity_id": identity_id,
                        "pseudonym": identity.pseudonym,
                        "samples": len(templates),
                        "image_sha256": [p.sha256 for p in accepted],
                        "model_id": accepted[0].template.model,
                        "model_ids": sorted({t.model_id for t in templates}),
                        "finger_positions": sorted({p.position for p in accepted if isinstance(p, PreparedFinger)}),
                        "legal_basis": info.legal_basis,
                        "source": info.source,
                        "gallery_version": gallery.version,
                        "gallery_size": gallery.identity_count,
                        "possible_duplicates": [d.identity_id for d in duplicates],
                    },
                ))
                view = _identity_view(identity, gallery, samples=list(identity.samples))
        except BaseException:
            for space, ids in added:
                self.index.remove(space, ids)
            raise
        self.index.flush()
        return view

    # -- identities ----------------------------------------------------------------------------
    def _identity(self, s: Session, actor: Actor, identity_id: str) -> Identity:
        ident = s.get(Identity, identity_id)
        if ident is None or ident.agency_id != actor.agency_id:
            raise IdentityNotFound(f"No identity {identity_id!r} in reach.")
        gallery = s.get(Gallery, ident.gallery_id)
        if actor.training_mode and (gallery is None or gallery.kind != "training"):
            raise TrainingModeViolation("In training mode only the training sandbox can be reached.")
        return ident

    def get_identity(self, actor: Actor, identity_id: str) -> IdentityView:
        actor.require(Permission.GALLERY_READ)
        with self.store.read() as s:
            ident = self._identity(s, actor, identity_id)
            gallery = s.get(Gallery, ident.gallery_id)
            assert gallery is not None
            return _identity_view(ident, gallery, samples=list(ident.samples), names=actor.can(Permission.RECORDS_READ))

    def list_identities(self, actor: Actor, gallery_ref: str, *, offset: int = 0, limit: int = 50) -> list[IdentityView]:
        actor.require(Permission.GALLERY_READ)
        if not (0 <= offset and 1 <= limit <= 500):
            raise InvalidRequest("offset ≥ 0 and 1 ≤ limit ≤ 500.")
        with self.store.read() as s:
            gallery = self._gallery(s, actor, gallery_ref)
            names = actor.can(Permission.RECORDS_READ)
            return [_identity_view(i, gallery, names=names) for i in repo.identities_page(s, gallery.id, offset, limit)]

    def sample_thumbnail(self, actor: Actor, sample_id: str) -> bytes:
        """JPEG thumbnail of an enrolled sample (for reviewers' candidate cards)."""
        actor.require(Permission.GALLERY_READ)
        with self.store.read() as s:
            sample = s.get(Sample, sample_id)
            missing = SampleNotFound(f"No sample {sample_id!r} in reach.")
            if sample is None or sample.thumbnail is None:
                raise missing
            shared = {a.gallery_id for a in active_agreements(s, actor.agency_id, self._now())}
            if sample.gallery_id not in shared or actor.training_mode:
                try:
                    self._identity(s, actor, sample.identity_id)
                except (IdentityNotFound, TrainingModeViolation):
                    raise missing from None  # never name the identity behind a sample
            return bytes(sample.thumbnail)

    def delete_identity(self, actor: Actor, identity_id: str, *, reason: str) -> None:
        """Delete an identity with its samples, templates and vectors."""
        actor.require(Permission.IDENTITY_DELETE)
        if not reason.strip():
            raise InvalidRequest("Deleting an identity needs a reason (it is audited).")
        with self.store.write() as s:
            ident = self._identity(s, actor, identity_id)
            gallery = s.get(Gallery, ident.gallery_id)
            assert gallery is not None
            templates = repo.identity_template_ids(s, identity_id)
            repo.delete_identity_rows(s, identity_id)
            gallery.identity_count = max(0, gallery.identity_count - 1)
            gallery.version += 1
            self._audit(s, Event(EventType.IDENTITY_DELETE, actor.agency_id, actor.user_id, gallery_id=gallery.id,
                                 details={"identity_id": identity_id, "pseudonym": ident.pseudonym,
                                          "templates": len(templates), "reason": reason[:1000],
                                          "gallery_version": gallery.version}))
        # After the commit: a failure here leaves only orphan vectors, which searches ignore and
        # reconciliation removes; the reverse order could leave rows without vectors.
        by_space: dict[str, list[int]] = {}
        for tid, gid, mid in templates:
            by_space.setdefault(space_key(gid, mid), []).append(tid)
        for space, ids in by_space.items():
            self.index.remove(space, np.array(ids, np.int64))
        self.index.flush()

    # -- search --------------------------------------------------------------------------------
    def _check_context(self, actor: Actor, ctx: SearchContext) -> SearchContext:
        purpose = (ctx.purpose or "").strip()
        case = (ctx.case_number or "").strip()
        if not purpose or not case:
            raise PurposeRequired("Every search needs a purpose code and a case number.")
        allowed = set(self.settings.purpose_codes) | ({"training"} if actor.training_mode else set())
        if purpose not in allowed:
            raise PurposeInvalid(f"Unknown purpose code {purpose!r}.", allowed=sorted(allowed))
        if not _CASE_RE.match(case):
            raise InvalidRequest("Case number: 1–120 letters, digits, spaces or . : / # - _")
        return SearchContext(purpose, case, (ctx.legal_basis or "").strip()[:200],
                             ctx.authorization_ref, ctx.justification)

    def _extract(self, data: bytes, *, jitters: int = 0) -> tuple[DecodedImage, FaceTemplate]:
        if self.extraction_pool is not None:  # on another core
            return self.extraction_pool.extract(data, jitters)
        decoded = decode_image(data, self.settings.image_limits)
        template = extract_face(decoded.rgb, self.face_models.get(), self.face_params, jitters=jitters)
        return decoded, template

    def measure_face(self, data: bytes) -> tuple[DecodedImage, FaceTemplate]:
        """Decode and extract a face for capture guidance: nothing is searched, stored or audited
        (the template is discarded by the caller)."""
        return self._extract(data)

    def prepare_sample(self, data: bytes, *, jitters: int = 0) -> PreparedSample:
        """Decode and extract one enrolment image (raises on bad input or no face)."""
        decoded, template = self._extract(data, jitters=jitters)
        return PreparedSample(decoded.sha256, decoded.format, _thumbnail(decoded.rgb, template), template)

    def _search_face(
        self, s: Session, spaces: list[str], vector: np.ndarray, k: int
    ) -> dict[str, tuple[float, Template]]:
        """Best exact score per identity among the index's shortlist."""
        shortlist = max(self.search_params.shortlist, k * 3)
        hits = self.index.search(spaces, np.asarray(vector, np.float32)[None, :], shortlist)[0]
        rows = repo.template_rows(s, [h.vector_id for h in hits])
        best: dict[str, tuple[float, Template]] = {}
        for row in rows:  # rows of vectors deleted meanwhile are simply absent
            score = float(np.dot(repo.vector_from_bytes(row.vector), vector))  # exact re-score
            if score > best.get(row.identity_id, (-2.0,))[0]:
                best[row.identity_id] = (score, row)
        return best

    def _face_model_notes(self, s: Session, galleries: Sequence[Gallery], model_id: str) -> tuple[str, ...]:
        """What a face search must say about people it cannot find: those enrolled only with
        another face model (another embedder, or other chips: `face_views`, `face_flip_average`).
        Their templates are not comparable with today's probe, so the search skips them.

        Counting them reads every template row of the galleries, so the answer is cached: until
        a gallery's version changes (every enrolment and deletion bumps it), and — when there
        was nothing to say — for up to ``MODEL_NOTE_REFRESH_S`` across versions, so that a
        gallery under continuous enrolment is not scanned on every search. (Enrolments by this
        server add templates of its own model; only another server's can add to the count.)"""
        ordered = sorted(galleries, key=lambda g: g.id)
        key = (tuple(g.id for g in ordered), model_id)
        versions = tuple(g.version for g in ordered)
        cached = self._model_notes.get(key)
        now = time.monotonic()
        if cached is not None and (cached[0] == versions
                                   or (not cached[2] and now - cached[1] < MODEL_NOTE_REFRESH_S)):
            return cached[2]
        old = repo.identities_of_other_models(s, [g.id for g in galleries], model_id, FINGER_MODEL_PREFIX)
        notes: tuple[str, ...] = ()
        if old:
            count = sum(old.values())
            people = "people are" if count != 1 else "person is"
            notes = (f"Not searched: {count:,} enrolled {people} held only with face templates of "
                     f"another face model ({', '.join(sorted(old))}), which cannot be compared with this "
                     f"search's model ({model_id}); they must be re-enrolled with this model, or the "
                     f"server set to theirs, to be found by face.",)
        if len(self._model_notes) > 4096:
            self._model_notes.clear()
        self._model_notes[key] = (versions, now, notes)
        return notes

    def identify(
        self,
        actor: Actor,
        gallery_refs: Sequence[str],
        image: bytes | None,
        ctx: SearchContext,
        *,
        top_k: int | None = None,
        investigative: bool = False,
        fingers: Sequence[FingerInput] = (),
    ) -> IdentifyResult:
        """1:N search of a face probe and/or fingerprints in one or more galleries, with a calibrated
        decision (several parts fuse as log-likelihood ratios)."""
        actor.require(Permission.SEARCH)
        if investigative:
            actor.require(Permission.SEARCH_INVESTIGATIVE)
        ctx = self._check_context(actor, ctx)
        if not gallery_refs:
            raise InvalidRequest("Name at least one gallery to search.")
        with self.store.read() as s:
            check_authorization(s, actor, ctx, self._now())
            found = [searchable_gallery(s, actor, ref, ctx.purpose, self._now()) for ref in gallery_refs]
        galleries = list({g.id: g for g, _ in found}.values())
        return self._identify(actor, galleries, image, ctx, top_k=top_k, investigative=investigative,
                              federated=False, fingers=fingers)

    def identify_federated(
        self, actor: Actor, image: bytes | None, ctx: SearchContext, *, top_k: int | None = None,
        fingers: Sequence[FingerInput] = (),
    ) -> IdentifyResult:
        """The elevated "federated query": every gallery (and record system) the agency may reach
        for this purpose, at once. Needs its own permission and a written justification."""
        actor.require(Permission.SEARCH)
        actor.require(Permission.SEARCH_FEDERATED)
        if actor.training_mode:
            raise TrainingModeViolation("Federated queries are not available in training mode.")
        ctx = self._check_context(actor, ctx)
        justification = (ctx.justification or "").strip()
        if len(justification) < self.settings.federated_justification_min_chars:
            raise InvalidRequest(
                f"A federated query needs a written justification of at least "
                f"{self.settings.federated_justification_min_chars} characters.", field="justification")
        with self.store.read() as s:
            check_authorization(s, actor, ctx, self._now())
            galleries = [g for g, _ in reachable_galleries(s, actor, ctx.purpose, self._now())]
        if not galleries:
            raise GalleryNotFound("No gallery is in reach for this purpose.")
        return self._identify(actor, galleries, image, ctx, top_k=top_k, investigative=False, federated=True,
                              fingers=fingers)

    def _identify(
        self, actor: Actor, galleries: list[Gallery], image: bytes | None, ctx: SearchContext, *,
        top_k: int | None, investigative: bool, federated: bool, fingers: Sequence[FingerInput] = (),
    ) -> IdentifyResult:
        top_k = self.search_params.default_top_k if top_k is None else int(top_k)
        if not 1 <= top_k <= self.search_params.max_top_k:
            raise InvalidRequest(f"top_k must be between 1 and {self.search_params.max_top_k}.")
        if image is None and not fingers:
            raise InvalidRequest("Send a face image, fingerprints, or both.")
        if len(fingers) > 10:
            raise InvalidRequest("At most 10 finger images per search.", field="fingers")
        self._rate_check(actor)
        if fingers:
            return self._identify_multi(actor, galleries, image, fingers, ctx, top_k=top_k,
                                        investigative=investigative, federated=federated)
        try:
            decoded, template = self._extract(image)
        except FieldIDError as exc:
            self._record_refused(actor, ctx, galleries, image, exc)
            raise
        cal = self.calibration(template.model)
        with self.store.read() as s:
            fresh = [s.get(Gallery, g.id) for g in galleries]
            galleries = [g for g in fresh if g is not None]
            n = sum(g.identity_count for g in galleries)
            fpir = min(g.target_fpir for g in galleries)
            point = operating_point(cal, fpir, max(1, n))
            hits: list[Hit] = []
            rows: dict[str, Template] = {}
            if template.quality.acceptable and n > 0:
                spaces = [space_key(g.id, template.model) for g in galleries]
                for ident, (score, row) in self._search_face(s, spaces, template.embedding, top_k).items():
                    hits.append(Hit(ident, score))
                    rows[ident] = row
            decision = decide(cal, hits, template.quality, point, top_k=top_k, investigative=investigative)
            reasons = decision.reasons
            if n == 0 and decision.outcome is not Outcome.UNDER_QUALITY:
                reasons = ("The galleries searched are empty.", *reasons)
            if n > 0:
                reasons = (*reasons, *self._face_model_notes(s, galleries, template.model))
            if actor.training_mode:
                reasons = (*reasons, *_training_feedback(template))
            names = actor.can(Permission.RECORDS_READ)
            by_id = {g.id: g for g in galleries}
            candidates = []
            for c in decision.candidates:
                ident = s.get(Identity, c.key)
                if ident is None:
                    continue
                candidates.append(_candidate_view(c, ident, by_id[ident.gallery_id].name, rows[c.key].sample_id,
                                                  names))
        return self._finish_search(
            actor, ctx, galleries, n, point, decision.outcome.value, candidates, reasons,
            modality=Modality.FACE.value, quality=_quality_view(template), cal=cal, model_id=template.model,
            investigative=investigative, federated=federated, decoded=decoded)

    def _finish_search(
        self, actor: Actor, ctx: SearchContext, galleries: list[Gallery], n: int, point: OperatingPoint, outcome: str,
        candidates: list[CandidateView], reasons: Sequence[str], *, modality: str, quality: QualityView,
        cal: Calibration, model_id: str, investigative: bool, federated: bool, decoded: DecodedImage,
        components: tuple[ComponentView, ...] = (),
    ) -> IdentifyResult:
        """Attach the candidates' linked records (for roles that may read records; no lookup
        without candidates), build the result and put the search on the record."""
        lookup = LookupResult({}, ())
        if candidates and actor.can(Permission.RECORDS_READ):
            lookup = self.records.records_for(actor, [c.identity_id for c in candidates], federated=federated)
            candidates = [replace(c, records=lookup.records_by_identity.get(c.identity_id, ())) for c in candidates]
        result = IdentifyResult(
            search_id=str(uuid.uuid4()),
            created_at=self._now(),
            outcome=outcome,
            modality=modality,
            galleries=tuple(g.id for g in galleries),
            gallery_size=n,
            gallery_versions={g.id: g.version for g in galleries},
            operating_point=OperatingPointView(point.threshold, point.threshold_fmr, point.fpir_target, n),
            candidates=tuple(candidates),
            reasons=tuple(reasons),
            quality=quality,
            model_id=model_id,
            calibration=_calibration_ref(cal),
            purpose=ctx.purpose,
            case_number=ctx.case_number,
            training=actor.training_mode,
            demo=self.settings.demo or any(g.kind == "demo" for g in galleries),
            investigative=investigative,
            federated=federated,
            record_sources=lookup.statuses,
            components=components,
        )
        self._record_search(actor, ctx, result, decoded, "identify", lookup)
        return result

    def _rate_check(self, actor: Actor) -> None:
        decision = self.rate_limiter.hit(actor.user_id, self._now())
        if decision.alert:
            with self.store.write() as s:
                self._audit(s, alert_event(actor, decision, self.settings.rate_alert_per_hour))

    def verify(self, actor: Actor, identity_id: str, image: bytes, ctx: SearchContext) -> VerifyResult:
        """1:1 comparison of a face probe with one enrolled identity."""
        actor.require(Permission.SEARCH)
        ctx = self._check_context(actor, ctx)
        with self.store.read() as s:
            check_authorization(s, actor, ctx, self._now())
            ident = self._identity(s, actor, identity_id)
            gallery = s.get(Gallery, ident.gallery_id)
            assert gallery is not None
        self._rate_check(actor)
        try:
            decoded, template = self._extract(image)
        except FieldIDError as exc:
            self._record_refused(actor, ctx, [gallery], image, exc)
            raise
        cal = self.calibration(template.model)
        with self.store.read() as s:
            vectors = [repo.vector_from_bytes(t.vector) for t in s.query(Template).filter(
                Template.identity_id == identity_id, Template.model_id == template.model)]
        if not vectors:
            raise InvalidRequest("The identity has no face template of the current model.")
        score = float(max(np.dot(v, template.embedding) for v in vectors))
        threshold = cal.threshold_at_fmr(self.settings.verify_target_fmr)
        point = operating_point(cal, 0.5, 1)
        assessed = assess(cal, Hit(identity_id, score), 1, point)
        acceptable = template.quality.acceptable
        assessment = "supports_same_person" if acceptable and score >= threshold else "inconclusive"
        if not acceptable:
            assessment = "under_quality"
        result = VerifyResult(
            search_id=str(uuid.uuid4()),
            created_at=self._now(),
            identity_id=identity_id,
            pseudonym=ident.pseudonym,
            score=round(score, 6),
            fmr=assessed.fmr,
            fmr_ci95=assessed.fmr_interval,
            strength=strength_of(assessed.fmr_interval[1]).value,
            explanation=assessed.explanation,
            assessment=assessment,
            threshold=threshold,
            threshold_fmr=self.settings.verify_target_fmr,
            quality=_quality_view(template),
            model_id=template.model,
            calibration=_calibration_ref(cal),
            purpose=ctx.purpose,
            case_number=ctx.case_number,
        )
        self._record_verify(actor, ctx, result, decoded, gallery)
        return result

    # -- search records ------------------------------------------------------------------------
    def _retention(self, outcome: str) -> tuple[str, datetime]:
        now = self._now()
        if outcome in (Outcome.CANDIDATES.value, Outcome.INVESTIGATIVE_LIST.value, "supports_same_person"):
            return "probe_candidates", now + timedelta(days=self.settings.retention_probe_candidates_days)
        return "probe_no_candidate", now + timedelta(hours=self.settings.retention_probe_no_candidate_hours)

    def _record_search(
        self, actor: Actor, ctx: SearchContext, result: IdentifyResult, decoded: DecodedImage, kind: str,
        lookup: LookupResult | None = None,
    ) -> None:
        shown = [
            {"identity_id": c.identity_id, "pseudonym": c.pseudonym, "rank": c.rank, "score": c.score,
             "fmr": c.fmr, "expected_false_candidates": c.expected_false_candidates, "tier": c.tier}
            for c in result.candidates
        ]
        details = {
            "search_id": result.search_id,
            "outcome": result.outcome,
            "galleries": list(result.galleries),
            "gallery_size": result.gallery_size,
            "gallery_versions": result.gallery_versions,
            "probe_sha256": decoded.sha256,
            "quality_score": result.quality.score,
            "quality_issues": [i.code for i in result.quality.issues],
            "candidates": shown,
            "threshold": result.operating_point.threshold,
            "fpir_target": result.operating_point.fpir_target,
            "model_id": result.model_id,
            "calibration_version": result.calibration.version,
            "investigative": result.investigative,
            "training": result.training,
            "federated": result.federated,
            "justification": ctx.justification if result.federated else None,
            "legal_basis": ctx.legal_basis,
            "authorization_ref": ctx.authorization_ref,
            "via": actor.via,
        }
        with self.store.write() as s:
            s.add(Search(
                id=result.search_id, agency_id=actor.agency_id, user_id=actor.user_id, kind=kind,
                gallery_ids=list(result.galleries), purpose=ctx.purpose, case_number=ctx.case_number,
                legal_basis=ctx.legal_basis, modality=result.modality, probe_sha256=decoded.sha256,
                gallery_size=result.gallery_size, outcome=result.outcome, result=details,
                training=actor.training_mode, created_at=result.created_at,
            ))
            s.flush()  # the search row before its probe image (foreign key)
            retention_class, expires = self._retention(result.outcome)
            s.add(ProbeImage(search_id=result.search_id, agency_id=actor.agency_id,
                             image=encode_jpeg(decoded.rgb, 90), retention_class=retention_class,
                             expires_at=expires, created_at=result.created_at))
            self._audit(s, Event(EventType.SEARCH_IDENTIFY, actor.agency_id, actor.user_id, ctx.purpose,
                                 ctx.case_number, result.galleries[0] if len(result.galleries) == 1 else None,
                                 details))
            access = None if lookup is None else record_access_event(
                actor, lookup, search_id=result.search_id, purpose=ctx.purpose, case_number=ctx.case_number,
                federated=result.federated)
            if access is not None:  # which records were shown to whom, in the search's transaction
                self._audit(s, access)

    def _record_verify(
        self, actor: Actor, ctx: SearchContext, result: VerifyResult, decoded: DecodedImage, gallery: Gallery
    ) -> None:
        details = {
            "search_id": result.search_id, "identity_id": result.identity_id, "score": result.score,
            "fmr": result.fmr, "assessment": result.assessment, "threshold": result.threshold,
            "probe_sha256": decoded.sha256, "model_id": result.model_id,
            "calibration_version": result.calibration.version, "quality_score": result.quality.score,
            "legal_basis": ctx.legal_basis, "via": actor.via,
        }
        with self.store.write() as s:
            s.add(Search(
                id=result.search_id, agency_id=actor.agency_id, user_id=actor.user_id, kind="verify",
                gallery_ids=[gallery.id], purpose=ctx.purpose, case_number=ctx.case_number,
                legal_basis=ctx.legal_basis, modality=Modality.FACE.value, probe_sha256=decoded.sha256,
                gallery_size=1, outcome=result.assessment, result=details, training=actor.training_mode,
                created_at=result.created_at,
            ))
            s.flush()  # the search row before its probe image (foreign key)
            retention_class, expires = self._retention(result.assessment)
            s.add(ProbeImage(search_id=result.search_id, agency_id=actor.agency_id,
                             image=encode_jpeg(decoded.rgb, 90), retention_class=retention_class,
                             expires_at=expires, created_at=result.created_at))
            self._audit(s, Event(EventType.SEARCH_VERIFY, actor.agency_id, actor.user_id, ctx.purpose,
                                 ctx.case_number, gallery.id, details))

    def _record_refused(
        self, actor: Actor, ctx: SearchContext, galleries: Sequence[Gallery], image: bytes, exc: FieldIDError
    ) -> None:
        """A search whose probe could not be used is still on the record (without the image)."""
        import hashlib

        with self.store.write() as s:
            self._audit(s, Event(EventType.SEARCH_REFUSED, actor.agency_id, actor.user_id, ctx.purpose,
                                 ctx.case_number, None,
                                 {"error": exc.code, "galleries": [g.id for g in galleries],
                                  "probe_sha256": hashlib.sha256(image).hexdigest(), "via": actor.via}))

    # -- record sources ------------------------------------------------------------------------
    def list_sources(self, actor: Actor) -> list[SourceView]:
        """The connected record sources the actor's agency reaches, with what the actor may see."""
        actor.require(Permission.GALLERY_READ)
        return self.records.describe(actor)

    def source_health(self, actor: Actor, name: str | None = None) -> list[SourceHealth]:
        """Probe the record sources in reach (or the one named) now."""
        actor.require(Permission.GALLERY_READ)
        return self.records.health(actor, name)

    def get_search(self, actor: Actor, search_id: str) -> dict[str, object]:
        """The stored receipt of a search (own agency; auditors and the searcher)."""
        with self.store.read() as s:
            row = s.get(Search, search_id)
            if row is None or row.agency_id != actor.agency_id:
                raise SearchNotFound(f"No search {search_id!r} in reach.")
            if row.user_id != actor.user_id and not actor.can(Permission.AUDIT_READ):
                raise SearchNotFound(f"No search {search_id!r} in reach.")
            return {"id": row.id, "kind": row.kind, "created_at": row.created_at, "purpose": row.purpose,
                    "case_number": row.case_number, "outcome": row.outcome, "gallery_size": row.gallery_size,
                    "result": row.result, "training": row.training}

    def health(self) -> dict[str, object]:
        with self.store.read() as s:
            from sqlalchemy import text

            s.execute(text("SELECT 1"))
        pool = self.extraction_pool
        return {
            "status": "ok",
            "database": self.store.dialect,
            "index": type(self.index).__name__,
            # In a server with extraction workers the models live in the workers.
            "face_models_loaded": self.face_models.loaded or bool(pool and pool.ready),
            "extraction_workers": pool.workers if pool else 0,
            "demo": self.settings.demo,
        }


# -- helpers -----------------------------------------------------------------------------------
def _pseudonym() -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud over a radio
    body = "".join(secrets.choice(alphabet) for _ in range(8))
    return f"FID-{body[:4]}-{body[4:]}"


def _thumbnail(rgb: np.ndarray, template: FaceTemplate) -> bytes:
    box = template.detection.box
    margin = int(0.45 * max(box.width, box.height))
    h, w = rgb.shape[:2]
    crop = rgb[max(0, box.top - margin) : min(h, box.bottom + margin), max(0, box.left - margin) : min(w, box.right + margin)]
    if crop.size == 0:
        crop = rgb
    scale = THUMBNAIL_SIDE / float(max(crop.shape[:2]))
    if scale < 1:
        crop = cv2.resize(crop, (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))),
                          interpolation=cv2.INTER_AREA)
    return encode_jpeg(crop, 85)


def _quality_json(template: FaceTemplate) -> dict[str, object]:
    q = template.quality
    return {"score": q.score, "issues": list(q.issue_codes), "measures": {k: round(v, 4) for k, v in q.measures.items()}}


def _gallery_view(g: Gallery, shared: bool = False) -> GalleryView:
    return GalleryView(g.id, g.agency_id, g.name, g.description, g.kind, g.target_fpir, g.identity_count,
                       g.version, g.created_at, shared)


def _identity_view(ident: Identity, gallery: Gallery, *, samples: list[Sample] | None = None,
                   names: bool = True) -> IdentityView:
    return IdentityView(
        id=ident.id,
        pseudonym=ident.pseudonym,
        display_name=ident.display_name if names else "",
        subject_key=ident.subject_key if names else None,
        gallery_id=ident.gallery_id,
        gallery_name=gallery.name,
        created_at=ident.created_at,
        samples=tuple(
            SampleView(x.id, x.modality, x.finger_position, x.source, x.captured_at, x.legal_basis,
                       x.quality_score, x.created_at)
            for x in (samples or [])
        ),
    )


__all__ = ["EnrollmentInfo", "FieldID", "ImageInput", "SearchContext"]

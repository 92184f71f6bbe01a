"""Enrolment: new identities and new samples of enrolled ones, from face images and/or fingers.

Enrolment walks decode → extract → (for faces) a duplicate search before insert, then writes the
identity, its samples and templates and the index entries together, with their audit event:
no orphan vectors, no orphan rows. Already-extracted samples (bulk enrolment extracts in worker
processes) enter at :meth:`EnrolmentService.enroll_prepared`.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence

from sqlalchemy.orm import Session

from fieldid.calibration_io import Calibrations
from fieldid.context import Context
from fieldid.core.policy import operating_point
from fieldid.errors import (
    FieldIDError,
    GalleryNotFound,
    IdentityNotFound,
    InvalidRequest,
    NoUsableSample,
    PossibleDuplicate,
)
from fieldid.extraction import ExtractionService
from fieldid.fingers import PreparedFinger, finger_template_row
from fieldid.governance import reach
from fieldid.governance.actor import Actor
from fieldid.governance.audit import Event, EventType
from fieldid.governance.roles import Permission
from fieldid.inputs import EnrollmentInfo, FingerInput, ImageInput, PreparedSample
from fieldid.result_views import finger_quality_view, identity_view, quality_view
from fieldid.search.parts import FaceMatcher
from fieldid.storage import repo
from fieldid.storage.base import space_key
from fieldid.storage.tables import Gallery, Identity, Sample, Template
from fieldid.template_index import TemplateIndex
from fieldid.types import Modality, QualityReport
from fieldid.views import DuplicateView, EnrollResult, IdentityView, RejectedImage

#: Images (faces and fingers together) one enrolment request may carry.
MAX_IMAGES = 20
#: Enrolled samples: a face, or one print.
Prepared = PreparedSample | PreparedFinger


class EnrolmentService:
    def __init__(self, ctx: Context, *, extraction: ExtractionService, templates: TemplateIndex,
                 faces: FaceMatcher,
                 calibrations: Calibrations) -> None:
        self.ctx = ctx
        self.extraction = extraction
        self.templates = templates
        self.faces = faces
        self.calibrations = calibrations

    def enroll(self, actor: Actor, gallery_ref: str, images: Sequence[ImageInput], info: EnrollmentInfo, *,
               on_duplicate: str = "report", fingers: Sequence[FingerInput] = ()) -> EnrollResult:
        """Create an identity from face images and/or fingerprints (atomically with its vectors)."""
        actor.require(Permission.ENROLL)
        if on_duplicate not in ("report", "reject"):
            raise InvalidRequest("on_duplicate must be 'report' or 'reject'.")
        _require_legal_basis(info)
        with self.ctx.store.read() as s:
            gallery_id = reach.own_gallery(s, actor, gallery_ref).id
        accepted, rejected = self.prepare(images, fingers)
        result = self._enroll_accepted(actor, gallery_id, accepted, info, on_duplicate)
        return EnrollResult(identity=result.identity, accepted=result.accepted, rejected=tuple(rejected),
                            possible_duplicates=result.possible_duplicates)

    def enroll_prepared(self, actor: Actor, gallery_ref: str, samples: Sequence[Prepared],
                        info: EnrollmentInfo,
                        *, on_duplicate: str = "report") -> EnrollResult:
        """Enrol already-extracted samples (bulk enrolment extracts in worker processes)."""
        actor.require(Permission.ENROLL)
        _require_legal_basis(info)
        usable = [p for p in samples if p.template.quality.acceptable]
        if not usable:
            raise NoUsableSample("None of the samples is of enrolment quality.")
        with self.ctx.store.read() as s:
            gallery_id = reach.own_gallery(s, actor, gallery_ref).id
        return self._enroll_accepted(actor, gallery_id, usable, info, on_duplicate)

    def add_samples(self, actor: Actor, identity_id: str, images: Sequence[ImageInput],
                    info: EnrollmentInfo, *, fingers: Sequence[FingerInput] = ()) -> EnrollResult:
        """Add face images and/or fingerprints to an enrolled identity."""
        actor.require(Permission.ENROLL)
        _require_legal_basis(info)
        with self.ctx.store.read() as s:
            gallery_id = reach.identity_in_reach(s, actor, identity_id).gallery_id
        accepted, rejected = self.prepare(images, fingers)
        view = self._write(actor, gallery_id, identity_id, accepted, info, new_identity=False, duplicates=[])
        return EnrollResult(identity=view, accepted=len(accepted), rejected=tuple(rejected),
                            possible_duplicates=())

    def prepare(self, images: Sequence[ImageInput],
                fingers: Sequence[FingerInput] = ()) -> tuple[list[Prepared], list[RejectedImage]]:
        """Extract every image; those of enrolment quality are accepted, the others rejected with
        their reason (image indexes: faces first, then fingers). Raises if none is accepted."""
        if not images and not fingers:
            raise InvalidRequest("Send at least one image.")
        if len(images) + len(fingers) > MAX_IMAGES:
            raise InvalidRequest(f"At most {MAX_IMAGES} images per enrolment request.")
        accepted: list[Prepared] = []
        rejected: list[RejectedImage] = []
        for j, finger in enumerate(fingers):  # indexes continue after the face images
            index, name = len(images) + j, finger.filename or f"finger-{finger.position}"
            try:
                prints = self.extraction.fingers(finger)
            except FieldIDError as exc:
                rejected.append(RejectedImage(index, name, exc.code, exc.message))
                continue
            usable = [p for p in prints if p.template.quality.acceptable]
            if not usable:
                rejected.append(RejectedImage(index, name, "quality_too_low",
                                              _blocking(prints[0].template.quality),
                                              finger_quality_view(prints[0])))
                continue
            # one print per position: of several fingers in a photo, the first (leftmost) usable
            accepted.extend(usable if finger.position == 0 else usable[:1])
        for i, image in enumerate(images):
            try:
                prepared = self.extraction.prepare_sample(image.data,
                                                          jitters=self.ctx.settings.enroll_jitters)
            except FieldIDError as exc:
                rejected.append(RejectedImage(i, image.filename, exc.code, exc.message))
                continue
            if not prepared.template.quality.acceptable:
                rejected.append(RejectedImage(i, image.filename, "quality_too_low",
                                              _blocking(prepared.template.quality),
                                              quality_view(prepared.template)))
                continue
            accepted.append(prepared)
        if not accepted:
            raise NoUsableSample(
                "None of the images can be enrolled.",
                rejected=[{"index": r.index, "filename": r.filename, "code": r.code, "message": r.message}
                          for r in rejected],
            )
        return accepted, rejected

    def _enroll_accepted(self, actor: Actor, gallery_id: str, accepted: Sequence[Prepared],
                         info: EnrollmentInfo,
                         on_duplicate: str) -> EnrollResult:
        duplicates = self.duplicates(gallery_id, accepted) if self.ctx.settings.duplicate_check else []
        if duplicates and on_duplicate == "reject":
            raise PossibleDuplicate("The person may already be enrolled in this gallery.",
                                    possible_duplicates=[d.__dict__ for d in duplicates])
        view = self._write(actor, gallery_id, str(uuid.uuid4()), accepted, info, new_identity=True,
                           duplicates=duplicates)
        return EnrollResult(identity=view, accepted=len(accepted), rejected=(),
                            possible_duplicates=tuple(duplicates))

    def duplicates(self, gallery_id: str, accepted: Sequence[Prepared]) -> list[DuplicateView]:
        """Identities of the gallery whose faces score above the gallery's operating threshold
        against any accepted face (the person may already be enrolled)."""
        faces = [p for p in accepted if isinstance(p, PreparedSample)]
        if not faces:
            return []
        model_id = faces[0].template.model
        cal = self.calibrations.get(model_id)
        with self.ctx.store.read() as s:
            gallery = s.get(Gallery, gallery_id)
            assert gallery is not None
            point = operating_point(cal, gallery.target_fpir, max(1, gallery.identity_count))
            best: dict[str, float] = {}
            for prepared in faces:
                for ident, (score, _row) in self.faces.shortlist(s, [space_key(gallery_id, model_id)],
                                                                 prepared.template.embedding, 20).items():
                    if score >= point.threshold and score > best.get(ident, -2.0):
                        best[ident] = score
            out = []
            for ident, score in sorted(best.items(), key=lambda kv: -kv[1]):
                identity = s.get(Identity, ident)
                if identity is not None:
                    out.append(DuplicateView(ident, identity.pseudonym, identity.gallery_id, score,
                                             float(cal.fmr(score))))
            return out

    def _write(self, actor: Actor, gallery_id: str, identity_id: str, accepted: Sequence[Prepared],
               info: EnrollmentInfo, *, new_identity: bool, duplicates: list[DuplicateView]) -> IdentityView:
        """The identity (when new), its samples and templates, their vectors and the audit event,
        in one transaction (the vectors are taken out again if it fails)."""
        now = self.ctx.now()
        with self.templates.adding() as add_vectors, self.ctx.store.write() as s:
            gallery = s.get(Gallery, gallery_id)
            if gallery is None:
                raise GalleryNotFound("The gallery was deleted during enrolment.")
            if new_identity:
                identity = Identity(id=identity_id, gallery_id=gallery_id, agency_id=gallery.agency_id,
                                    pseudonym=_pseudonym(), display_name=info.display_name[:200],
                                    subject_key=(info.subject_key or None), created_at=now,
                                    created_by=actor.user_id)
                s.add(identity)
                gallery.identity_count += 1
            else:
                found = s.get(Identity, identity_id)
                if found is None:
                    raise IdentityNotFound("The identity was deleted during enrolment.")
                identity = found
            gallery.version += 1
            templates = [self._store_sample(s, prepared, identity, info) for prepared in accepted]
            s.flush()
            add_vectors(gallery_id, templates)
            self.ctx.audit(s, Event(
                EventType.ENROLL if new_identity else EventType.SAMPLE_ADD,
                actor.agency_id, actor.user_id, gallery_id=gallery_id,
                details={
                    "identity_id": identity_id,
                    "pseudonym": identity.pseudonym,
                    "samples": len(templates),
                    "image_sha256": [p.sha256 for p in accepted],
                    "model_id": accepted[0].template.model,
                    "model_ids": sorted({t.model_id for t in templates}),
                    "finger_positions": sorted({p.position for p in accepted
                                                if isinstance(p, PreparedFinger)}),
                    "legal_basis": info.legal_basis,
                    "source": info.source,
                    "gallery_version": gallery.version,
                    "gallery_size": gallery.identity_count,
                    "possible_duplicates": [d.identity_id for d in duplicates],
                },
            ))
            view = identity_view(identity, gallery, samples=list(identity.samples))
        return view

    def _store_sample(self, s: Session, prepared: Prepared, identity: Identity,
                      info: EnrollmentInfo) -> Template:
        """One sample row (what was captured, when, why, its quality and thumbnail) and its
        template row; returns the template (flushed later, to get its id)."""
        now = self.ctx.now()
        finger = isinstance(prepared, PreparedFinger)
        q = prepared.template.quality
        sample = Sample(
            id=str(uuid.uuid4()), identity_id=identity.id, gallery_id=identity.gallery_id,
            modality=Modality.FINGER.value if finger else Modality.FACE.value,
            finger_position=prepared.position if finger else None,
            source=info.source[:200], captured_at=info.captured_at, legal_basis=info.legal_basis[:200],
            image_sha256=prepared.sha256, image_format=prepared.format, thumbnail=prepared.thumbnail,
            quality_score=q.score,
            quality={"score": q.score, "issues": list(q.issue_codes),
                     "measures": {k: round(v, 4) for k, v in q.measures.items()}},
            created_at=now,
        )
        s.add(sample)
        s.flush()  # parent rows first: templates reference the sample and identity
        if isinstance(prepared, PreparedFinger):
            row = finger_template_row(prepared, sample_id=sample.id, identity_id=identity.id,
                                      gallery_id=identity.gallery_id, now=now)
        else:
            row = Template(sample_id=sample.id, identity_id=identity.id, gallery_id=identity.gallery_id,
                           modality=Modality.FACE.value, model_id=prepared.template.model,
                           vector=repo.vector_bytes(prepared.template.embedding), data=None, created_at=now)
        s.add(row)
        return row


def _require_legal_basis(info: EnrollmentInfo) -> None:
    if not info.legal_basis.strip():
        raise InvalidRequest("Enrolment needs the legal basis (or consent reference) for holding the images.")


def _blocking(quality: QualityReport) -> str:
    return " ".join(i.message for i in quality.issues if i.blocking)


def _pseudonym() -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud over a radio
    body = "".join(secrets.choice(alphabet) for _ in range(8))
    return f"FID-{body[:4]}-{body[4:]}"

"""The parts of a probe — the face, each finger — and how each is compared with galleries.

A search is one path over a list of parts (:mod:`fieldid.search.compare`); a face-only search is
the one-part case. Each part knows how to find its best candidates in galleries (the index's
shortlist, re-scored exactly), how to score given identities exactly, and what a search must
say about the galleries' templates it cannot compare with. A new source of prints (e.g. the
finger images of an ANSI/NIST-ITL transaction) arrives as more :class:`FingerPart`\\ s.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from sqlalchemy.orm import Session

from fieldid.core.calibration import Calibration
from fieldid.core.params import SearchParams
from fieldid.fingers import (
    FINGER_MODEL_PREFIX,
    PreparedFinger,
    finger_gallery_notes,
    score_identities,
    search_finger,
)
from fieldid.result_views import finger_quality_view, quality_view, training_feedback
from fieldid.storage import repo
from fieldid.storage.base import space_key
from fieldid.storage.tables import Gallery, Template
from fieldid.template_index import TemplateIndex
from fieldid.types import FaceTemplate, QualityReport
from fieldid.views import QualityView

#: Seconds an empty face-model note stays valid while the galleries' versions move on.
MODEL_NOTE_REFRESH_S = 60.0
#: (gallery versions, monotonic time, notes) of a face-model note.
_CachedNotes = tuple[tuple[int, ...], float, tuple[str, ...]]
#: {identity id: (best exact score, id of the sample that scored it)}
Scores = dict[str, tuple[float, str]]


class SearchPart(Protocol):
    """One part of a probe, extracted and calibrated."""

    calibration: Calibration

    @property
    def modality(self) -> str: ...  # "face" | "finger"

    @property
    def finger_position(self) -> int | None: ...

    @property
    def contactless(self) -> bool: ...

    @property
    def quality(self) -> QualityReport: ...

    @property
    def model_id(self) -> str: ...

    def quality_view(self) -> QualityView: ...

    def find(self, s: Session, galleries: Sequence[Gallery], top_k: int) -> Scores:
        """The best candidates of the galleries for this part."""
        ...

    def score(self, s: Session, identity_ids: Sequence[str]) -> Scores:
        """Exact scores of this part against every template of these identities."""
        ...

    def notes(self, s: Session, galleries: Sequence[Gallery]) -> Sequence[str]:
        """What the search must say about templates of the galleries this part cannot compare with."""
        ...

    def training_feedback(self) -> Sequence[str]:
        """Practice feedback on the capture, for searches in training mode."""
        ...


class FaceMatcher:
    """1:N face comparison: the vector index's shortlist, re-scored exactly; and the note on
    people enrolled only with another face model (cached, see :meth:`model_notes`)."""

    def __init__(self, templates: TemplateIndex, params: SearchParams) -> None:
        self.templates = templates
        self.params = params
        #: Face-model notes per (galleries, model): (their versions, monotonic time, notes).
        self._notes: dict[tuple[tuple[str, ...], str], _CachedNotes] = {}

    def shortlist(self, s: Session, spaces: list[str], vector: np.ndarray,
                  k: int) -> dict[str, tuple[float, Template]]:
        """Best exact score per identity among the index's shortlist."""
        hits = self.templates.search(spaces, vector, max(self.params.shortlist, k * 3))
        best: dict[str, tuple[float, Template]] = {}
        for row in repo.template_rows(s, [h.vector_id for h in hits]):  # rows deleted meanwhile are absent
            score = float(np.dot(repo.vector_from_bytes(row.vector), vector))  # exact re-score
            if score > best.get(row.identity_id, (-2.0,))[0]:
                best[row.identity_id] = (score, row)
        return best

    def scores(self, s: Session, face: FaceTemplate, identity_ids: Sequence[str]) -> Scores:
        """Exact scores against every face template of the model of these identities."""
        best: Scores = {}
        for row in s.query(Template).filter(Template.identity_id.in_(list(identity_ids)),
                                            Template.model_id == face.model):
            score = float(np.dot(repo.vector_from_bytes(row.vector), face.embedding))
            if score > best.get(row.identity_id, (-2.0, ""))[0]:
                best[row.identity_id] = (score, row.sample_id)
        return best

    def model_notes(self, s: Session, galleries: Sequence[Gallery], model_id: str) -> tuple[str, ...]:
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
        cached = self._notes.get(key)
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
        if len(self._notes) > 4096:
            self._notes.clear()
        self._notes[key] = (versions, now, notes)
        return notes


@dataclass
class FacePart:
    template: FaceTemplate
    calibration: Calibration
    matcher: FaceMatcher
    modality = "face"
    finger_position = None
    contactless = False

    @property
    def quality(self) -> QualityReport:
        return self.template.quality

    @property
    def model_id(self) -> str:
        return self.template.model

    def quality_view(self) -> QualityView:
        return quality_view(self.template)

    def find(self, s: Session, galleries: Sequence[Gallery], top_k: int) -> Scores:
        spaces = [space_key(g.id, self.template.model) for g in galleries]
        hits = self.matcher.shortlist(s, spaces, self.template.embedding, top_k)
        return {k: (score, row.sample_id) for k, (score, row) in hits.items()}

    def score(self, s: Session, identity_ids: Sequence[str]) -> Scores:
        return self.matcher.scores(s, self.template, identity_ids)

    def notes(self, s: Session, galleries: Sequence[Gallery]) -> Sequence[str]:
        return self.matcher.model_notes(s, galleries, self.template.model)

    def training_feedback(self) -> Sequence[str]:
        return training_feedback(self.template)


@dataclass
class FingerPart:
    prepared: PreparedFinger
    calibration: Calibration
    templates: TemplateIndex
    #: Galleries with at most this many prints are compared exhaustively (settings.finger_exhaustive_max).
    exhaustive_max: int
    #: Prints taken from the search-key pass of a larger gallery (SearchParams.finger_shortlist).
    shortlist: int
    modality = "finger"

    @property
    def finger_position(self) -> int:
        return self.prepared.position

    @property
    def contactless(self) -> bool:
        return self.prepared.template.contactless

    @property
    def quality(self) -> QualityReport:
        return self.prepared.template.quality

    @property
    def model_id(self) -> str:
        return self.prepared.model_id

    def quality_view(self) -> QualityView:
        return finger_quality_view(self.prepared)

    def find(self, s: Session, galleries: Sequence[Gallery], top_k: int) -> Scores:
        return search_finger(s, self.templates.index, [g.id for g in galleries], self.prepared,
                             exhaustive_max=self.exhaustive_max, shortlist=self.shortlist)

    def score(self, s: Session, identity_ids: Sequence[str]) -> Scores:
        return score_identities(s, self.prepared, identity_ids)

    def notes(self, s: Session, galleries: Sequence[Gallery]) -> Sequence[str]:
        return finger_gallery_notes(s, [g.id for g in galleries])

    def training_feedback(self) -> Sequence[str]:
        return ()

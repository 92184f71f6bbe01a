"""Queries used by the service, in one place. Functions take a Session (the caller's
transaction) and return ORM rows or plain values."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from fieldid.storage.tables import Gallery, Identity, Sample, Template


def vector_bytes(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype="<f4").tobytes()


def vector_from_bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<f4").astype(np.float32)


def gallery_by_ref(session: Session, agency_id: str, ref: str) -> Gallery | None:
    """An agency's own gallery by id or by name."""
    row = session.get(Gallery, ref)
    if row is not None and row.agency_id == agency_id:
        return row
    return session.execute(
        select(Gallery).where(Gallery.agency_id == agency_id, Gallery.name == ref)
    ).scalar_one_or_none()


def galleries_of(session: Session, agency_id: str) -> list[Gallery]:
    return list(session.execute(select(Gallery).where(Gallery.agency_id == agency_id).order_by(Gallery.name)).scalars())


def identities_of_agency(session: Session, agency_id: str) -> list[Identity]:
    return list(session.execute(select(Identity).where(Identity.agency_id == agency_id)).scalars())


def subject_keys_of(session: Session, gallery_id: str) -> set[str | None]:
    """The subject keys of a gallery's identities (bulk enrolment skips those enrolled)."""
    return set(session.execute(select(Identity.subject_key).where(Identity.gallery_id == gallery_id)).scalars())


def identities_page(session: Session, gallery_id: str, offset: int, limit: int) -> list[Identity]:
    return list(
        session.execute(
            select(Identity).where(Identity.gallery_id == gallery_id)
            .order_by(Identity.created_at, Identity.id).offset(offset).limit(limit)
        ).scalars()
    )


def template_rows(session: Session, ids: Sequence[int]) -> list[Template]:
    if not ids:
        return []
    return list(session.execute(select(Template).where(Template.id.in_([int(i) for i in ids]))).scalars())


def template_ids(session: Session, gallery_id: str, model_id: str) -> np.ndarray:
    ids = session.execute(
        select(Template.id).where(Template.gallery_id == gallery_id, Template.model_id == model_id)
    ).scalars().all()
    return np.sort(np.array(ids, dtype=np.int64))


def iter_template_vectors(
    session: Session, ids: np.ndarray, batch: int = 10_000
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(ids, vectors) in batches for the given template ids (index rebuild and repair)."""
    ids = np.asarray(ids, np.int64)
    for start in range(0, len(ids), batch):
        chunk = [int(i) for i in ids[start : start + batch]]
        rows = session.execute(select(Template.id, Template.vector).where(Template.id.in_(chunk))).all()
        if rows:
            yield (np.array([r[0] for r in rows], np.int64), np.stack([vector_from_bytes(r[1]) for r in rows]))


def spaces_in_db(session: Session) -> list[tuple[str, str]]:
    """Every (gallery_id, model_id) that has templates."""
    return [(g, m) for g, m in session.execute(select(Template.gallery_id, Template.model_id).distinct()).all()]


def _other_model_templates(  # type: ignore[no-untyped-def]
    gallery_ids: Sequence[str], model_id: str, exclude_prefix: str
):
    """Conditions of templates of identities held only with models other than ``model_id``
    (models starting with ``exclude_prefix`` left out)."""
    ids = list(gallery_ids)
    current = select(Template.identity_id).where(Template.gallery_id.in_(ids), Template.model_id == model_id)
    return (Template.gallery_id.in_(ids), Template.model_id != model_id,
            ~Template.model_id.startswith(exclude_prefix, autoescape=True),
            Template.identity_id.not_in(current))


def identities_of_other_models(
    session: Session, gallery_ids: Sequence[str], model_id: str, exclude_prefix: str
) -> dict[str, int]:
    """Per model id (other than ``model_id``, and not starting with ``exclude_prefix``): the
    identities of the galleries that have templates of that model and none of ``model_id``.

    A search with ``model_id`` cannot find them. Reads every template row of the galleries:
    callers cache the answer per gallery version.
    """
    rows = session.execute(
        select(Template.model_id, func.count(func.distinct(Template.identity_id)))
        .where(*_other_model_templates(gallery_ids, model_id, exclude_prefix)).group_by(Template.model_id))
    return {m: int(n) for m, n in rows}


def identity_ids_of_other_models(
    session: Session, gallery_ids: Sequence[str], model_id: str, exclude_prefix: str
) -> list[str]:
    """The identities counted by :func:`identities_of_other_models`."""
    where = _other_model_templates(gallery_ids, model_id, exclude_prefix)
    return sorted(session.execute(select(Template.identity_id).distinct().where(*where)).scalars())


def identity_template_ids(session: Session, identity_id: str) -> list[tuple[int, str, str]]:
    """(template id, gallery id, model id) of an identity's templates."""
    return [
        (int(t), g, m)
        for t, g, m in session.execute(
            select(Template.id, Template.gallery_id, Template.model_id).where(Template.identity_id == identity_id)
        ).all()
    ]


def delete_identity_rows(session: Session, identity_id: str) -> None:
    session.execute(delete(Template).where(Template.identity_id == identity_id))
    session.execute(delete(Sample).where(Sample.identity_id == identity_id))
    session.execute(delete(Identity).where(Identity.id == identity_id))


def count_identities(session: Session, gallery_id: str) -> int:
    return int(session.execute(select(func.count()).select_from(Identity).where(Identity.gallery_id == gallery_id)).scalar_one())

"""Bulk enrolment from a folder or a `path,label` manifest: parallel extraction, streaming,
resumable, with a progress bar and a summary of rejected images and why.

Resuming: each label becomes one identity whose ``subject_key`` is the label; labels already
enrolled in the gallery are skipped, so an interrupted run continues where it stopped.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import select

from fieldid.config import Settings
from fieldid.errors import FieldIDError, InvalidRequest
from fieldid.eval.datasets import Item, read_manifest
from fieldid.governance.actor import Actor
from fieldid.service import EnrollmentInfo, FieldID, PreparedSample, RejectedImage
from fieldid.storage.tables import Identity

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}

_worker: tuple[FieldID, Settings] | None = None


def items_from(path: Path) -> list[Item]:
    """A manifest CSV, a folder of per-person sub-folders, or a flat folder (label = file stem)."""
    path = Path(path)
    if path.is_file():
        return read_manifest(path)
    if not path.is_dir():
        raise InvalidRequest(f"{path} is neither a manifest nor a folder.")
    items = []
    for p in sorted(path.rglob("*")):
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES:
            label = p.parent.name if p.parent != path else p.stem
            items.append(Item(p, label))
    if not items:
        raise InvalidRequest(f"No images under {path}.")
    return items


@dataclass
class BulkReport:
    identities_enrolled: int = 0
    identities_skipped: int = 0
    identities_failed: int = 0
    images_accepted: int = 0
    rejected: list[tuple[str, str, str]] = field(default_factory=list)  # (path, code, message)
    possible_duplicates: list[tuple[str, str]] = field(default_factory=list)  # (label, other pseudonym)
    enrolled: dict[str, str] = field(default_factory=dict)  # label → identity id

    def rejected_by_reason(self) -> Counter[str]:
        return Counter(code for _, code, _ in self.rejected)


def _init(settings: Settings) -> None:
    global _worker
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from fieldid.storage.memory_index import MemoryIndex
    from fieldid.storage.sql import SqlStore

    # Workers only extract: they need the models, not the database.
    store = SqlStore("sqlite://", migrate=False)
    _worker = (FieldID(settings, store, MemoryIndex()), settings)


def _prepare(job: tuple[str, list[str]]) -> tuple[str, list[PreparedSample], list[tuple[str, str, str]]]:
    assert _worker is not None
    service, settings = _worker
    label, paths = job
    prepared, rejected = [], []
    for p in paths:
        try:
            prepared.append(service.prepare_sample(Path(p).read_bytes(), jitters=settings.enroll_jitters))
        except FieldIDError as exc:
            rejected.append((p, exc.code, exc.message))
        except OSError as exc:
            rejected.append((p, "unreadable", str(exc)))
    keep = []
    for p, sample in zip([p for p in paths if p not in {r[0] for r in rejected}], prepared):
        if sample.template.quality.acceptable:
            keep.append(sample)
        else:
            codes = ",".join(i.code for i in sample.template.quality.issues if i.blocking)
            rejected.append((p, "quality_too_low", codes))
    return label, keep, rejected


def bulk_enroll(
    service: FieldID,
    actor: Actor,
    gallery: str,
    items: list[Item],
    *,
    legal_basis: str,
    source: str = "bulk",
    display_names: dict[str, str] | None = None,
    subject_keys: dict[str, str] | None = None,
    max_images_per_identity: int = 5,
    workers: int | None = None,
    quiet: bool = False,
    limit: int | None = None,
) -> BulkReport:
    report = BulkReport()
    groups: dict[str, list[str]] = {}
    for item in items:
        groups.setdefault(item.label, []).append(str(item.path))
    labels = sorted(groups)
    if limit is not None:
        labels = labels[:limit]
    gallery_id = service.get_gallery(actor, gallery).id
    keys = subject_keys or {}
    with service.store.read() as s:
        done = set(s.execute(select(Identity.subject_key).where(Identity.gallery_id == gallery_id)).scalars())
    todo = [label for label in labels if keys.get(label, label) not in done]
    report.identities_skipped = len(labels) - len(todo)
    jobs: Iterator[tuple[str, list[str]]] = ((lb, groups[lb][:max_images_per_identity]) for lb in todo)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    workers = workers or max(1, min(os.cpu_count() or 1, 8))
    with Progress(*columns, disable=quiet) as progress, ProcessPoolExecutor(
        workers, initializer=_init, initargs=(service.settings,)
    ) as pool:
        task = progress.add_task("Enrolling", total=len(labels), completed=report.identities_skipped)
        # map() over a generator with a bounded chunk keeps memory flat for any size of folder.
        for label, samples, rejected in pool.map(_prepare, jobs, chunksize=4):
            report.rejected.extend(rejected)
            if not samples:
                report.identities_failed += 1
                progress.advance(task)
                continue
            info = EnrollmentInfo(display_name=(display_names or {}).get(label, label), subject_key=keys.get(label, label),
                                  source=source, legal_basis=legal_basis)
            try:
                result = service.enroll_prepared(actor, gallery_id, samples, info)
            except FieldIDError as exc:
                report.identities_failed += 1
                report.rejected.append((label, exc.code, exc.message))
            else:
                report.identities_enrolled += 1
                report.images_accepted += result.accepted
                report.enrolled[label] = result.identity.id
                report.possible_duplicates.extend((label, d.pseudonym) for d in result.possible_duplicates)
            progress.advance(task)
    return report


__all__ = ["BulkReport", "RejectedImage", "bulk_enroll", "items_from"]

"""Bulk enrolment from a folder or a `path,label` manifest: parallel extraction, streaming,
resumable, with a progress bar and a summary of rejected images and why.

Resuming: each label becomes one identity whose ``subject_key`` is the label; labels already
enrolled in the gallery are skipped, so an interrupted run continues where it stopped.
"""

from __future__ import annotations

import os
import sys
from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from fieldid.config import Settings
from fieldid.errors import FieldIDError, InvalidRequest
from fieldid.eval.datasets import Item, read_manifest
from fieldid.governance.actor import Actor
from fieldid.inputs import EnrollmentInfo, PreparedSample
from fieldid.service import FieldID
from fieldid.storage import repo
from fieldid.views import RejectedImage

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


def _die_with_parent() -> None:
    """Linux: a worker gets SIGTERM when the enrolling process dies (even by SIGKILL), instead
    of lingering as an orphan holding the models."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except OSError:
            pass


def _init(settings: Settings) -> None:
    global _worker
    _die_with_parent()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from fieldid.storage.memory_index import MemoryIndex
    from fieldid.storage.sql import SqlStore

    # Workers only extract (their service's extraction, with the models); its store and index
    # are empty stand-ins, never written.
    _worker = (FieldID(settings, SqlStore("sqlite://", migrate=False), MemoryIndex()), settings)


def _prepare(job: tuple[str, list[str]]) -> tuple[str, list[PreparedSample], list[tuple[str, str, str]]]:
    assert _worker is not None
    service, settings = _worker
    label, paths = job
    prepared, rejected = [], []
    for p in paths:
        try:
            prepared.append(service.extraction.prepare_sample(Path(p).read_bytes(),
                                                              jitters=settings.enroll_jitters))
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


def _bounded_map(pool: Executor, fn, jobs: Iterator, *, window: int) -> Iterator:  # type: ignore[no-untyped-def]
    """Results of ``fn`` over ``jobs`` in order, with at most ``window`` jobs submitted at once."""
    pending: deque[Future] = deque()
    for job in jobs:
        pending.append(pool.submit(fn, job))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


class RayPool:
    """Feature extraction fanned out over a Ray cluster: one actor per worker, each holding the
    models once; ``submit`` returns a concurrent Future like an Executor's. ``address`` is
    "local" (start a cluster on this machine), "auto" (join the running one) or a
    ``ray://host:port`` client address."""

    def __init__(self, settings: Settings, address: str, workers: int) -> None:
        try:
            import ray
        except ImportError:
            raise InvalidRequest("Ray fan-out needs the 'ray' package: pip install 'fieldid[ray]'.") from None
        self._ray = ray
        self._owned = not ray.is_initialized()
        if self._owned:
            local = address == "local"
            ray.init(address=None if local else address, num_cpus=workers if local else None,
                     include_dashboard=False, log_to_driver=False, configure_logging=False)

        @ray.remote(num_cpus=1)
        class Extractor:
            def __init__(self, settings: Settings) -> None:
                _init(settings)

            def prepare(self, job: tuple[str, list[str]]):  # type: ignore[no-untyped-def]
                return _prepare(job)

        self._actors = [Extractor.remote(settings) for _ in range(workers)]
        self._next = 0

    def submit(self, fn, job):  # type: ignore[no-untyped-def]
        actor = self._actors[self._next % len(self._actors)]
        self._next += 1
        return actor.prepare.remote(job).future()

    def __enter__(self) -> RayPool:
        return self

    def __exit__(self, *exc: object) -> None:
        for actor in self._actors:
            self._ray.kill(actor)
        if self._owned:
            self._ray.shutdown()


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
    ray_address: str | None = None,
) -> BulkReport:
    """Enrol one identity per label. Extraction runs in ``workers`` local processes, or on a Ray
    cluster when ``ray_address`` is given ("local", "auto" or ray://host:port)."""
    report = BulkReport()
    groups: dict[str, list[str]] = {}
    for item in items:
        groups.setdefault(item.label, []).append(str(item.path))
    labels = sorted(groups)
    if limit is not None:
        labels = labels[:limit]
    gallery_id = service.galleries.get_gallery(actor, gallery).id
    keys = subject_keys or {}
    with service.store.read() as s:
        done = repo.subject_keys_of(s, gallery_id)
    todo = [label for label in labels if keys.get(label, label) not in done]
    report.identities_skipped = len(labels) - len(todo)
    jobs: Iterator[tuple[str, list[str]]] = ((lb, groups[lb][:max_images_per_identity]) for lb in todo)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    workers = workers or max(1, min(os.cpu_count() or 1, 8))
    pool_cm = (RayPool(service.settings, ray_address, workers) if ray_address else
               ProcessPoolExecutor(workers, initializer=_init, initargs=(service.settings,)))
    with Progress(*columns, disable=quiet) as progress, pool_cm as pool:
        task = progress.add_task("Enrolling", total=len(labels), completed=report.identities_skipped)
        # A bounded window of jobs in flight keeps memory flat for any size of input
        # (Executor.map would submit every job at once).
        for label, samples, rejected in _bounded_map(pool, _prepare, jobs, window=4 * workers):
            report.rejected.extend(rejected)
            if not samples:
                report.identities_failed += 1
                progress.advance(task)
                continue
            info = EnrollmentInfo(display_name=(display_names or {}).get(label, label), subject_key=keys.get(label, label),
                                  source=source, legal_basis=legal_basis)
            try:
                result = service.enrolment.enroll_prepared(actor, gallery_id, samples, info)
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


__all__ = ["BulkReport", "RayPool", "RejectedImage", "bulk_enroll", "items_from"]

"""FieldID: the front that builds the context and holds the services.

Each service is built from a :class:`~fieldid.context.Context` (settings, store, clock, audit)
plus the parts it uses, and owns one area; the front wires them and keeps the documented Python
API, each method delegating to its service (``fid.identify(…)`` is ``fid.search.identify(…)``).
Every call takes the acting user, checks its permission and reach, and appends a typed audit
event in the transaction of the change it records. Routes and CLI commands parse input, call
one service method, and format.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import text

from fieldid.calibration_io import Calibrations
from fieldid.clock import Clock, SystemClock
from fieldid.config import Settings
from fieldid.context import Context
from fieldid.core.params import FaceParams, SearchParams
from fieldid.enrolment import EnrolmentService
from fieldid.extraction import ExtractionService
from fieldid.galleries import GalleryService
from fieldid.governance.actor import Actor
from fieldid.governance.admin import AdminService
from fieldid.governance.authenticator import Authenticator
from fieldid.governance.oversight import OversightService
from fieldid.governance.purpose import AuthorizationService
from fieldid.governance.rate_limit import RateLimiter
from fieldid.governance.redress import RedressService
from fieldid.governance.retention import RetentionService
from fieldid.governance.review import ReviewService
from fieldid.governance.roles import Permission
from fieldid.governance.sharing import SharingService
from fieldid.inputs import EnrollmentInfo, ImageInput, PreparedSample, SearchContext
from fieldid.models.registry import FaceModelLoader
from fieldid.records import RecordBroker, SourceHealth, SourceView
from fieldid.search import SearchService
from fieldid.search.parts import FaceMatcher
from fieldid.storage.base import VectorIndex
from fieldid.storage.sql import SqlStore
from fieldid.template_index import TemplateIndex

P = ParamSpec("P")
R = TypeVar("R")


def _via(service: str, method: Callable[Concatenate[Any, P], R]) -> Callable[Concatenate[FieldID, P], R]:
    """A front method that calls the same-named method of the service held as ``service``."""

    @functools.wraps(method)
    def call(self: FieldID, *args: P.args, **kwargs: P.kwargs) -> R:
        return getattr(getattr(self, service), method.__name__)(*args, **kwargs)

    return call


def _part(path: str, doc: str) -> property:
    """A front attribute reading (and setting) ``holder.attribute`` of a part the front holds."""
    holder, name = path.split(".")
    return property(lambda self: getattr(getattr(self, holder), name),
                    lambda self, value: setattr(getattr(self, holder), name, value), doc=doc)


class FieldID:
    """The service front. Build it with :meth:`open` (real storage) or pass the parts in (tests)."""

    def __init__(self, settings: Settings, store: SqlStore, index: VectorIndex, *,
                 face_models: FaceModelLoader | None = None, clock: Clock | None = None,
                 face_params: FaceParams | None = None, search_params: SearchParams | None = None,
                 records: RecordBroker | None = None) -> None:
        self.ctx = ctx = Context(settings, store, clock or SystemClock())
        if records is None:
            records = RecordBroker.from_settings(settings, store, clock=ctx.clock)
        self.records = records
        # The parts several services share: extractors, calibrations, the vector index.
        self.calibrations = calibrations = Calibrations(settings.calibration_dir)
        self.extraction = extraction = ExtractionService(settings, face_models or FaceModelLoader(settings),
                                                         face_params)
        self.templates = templates = TemplateIndex(ctx, index)
        faces = FaceMatcher(templates, search_params or SearchParams())
        # One service per area.
        self.auth = Authenticator(ctx)
        self.galleries = GalleryService(ctx, templates)
        self.enrolment = EnrolmentService(ctx, extraction=extraction, templates=templates, faces=faces,
                                          calibrations=calibrations)
        limiter = RateLimiter(settings.rate_limit_per_minute, settings.rate_alert_per_hour)
        self.search = SearchService(ctx, extraction=extraction, templates=templates, faces=faces,
                                    calibrations=calibrations, records=records, rate_limiter=limiter,
                                    params=search_params)
        self.admin = AdminService(ctx, self.auth.api_keys)
        self.sharing = SharingService(ctx)
        self.authorizations = AuthorizationService(ctx)
        self.review = ReviewService(ctx)
        self.redress = RedressService(ctx)
        self.retention = RetentionService(ctx)
        self.oversight = OversightService(ctx)

    @classmethod
    def open(cls, settings: Settings, *, clock: Clock | None = None, reconcile: bool = True) -> FieldID:
        """Open the configured store and index (and bring the index in line with the database)."""
        from fieldid.storage.factory import make_index, open_store  # the backends' drivers load here

        service = cls(settings, open_store(settings), make_index(settings), clock=clock)
        if reconcile:
            service.reconcile()
        return service

    def close(self) -> None:
        self.extraction.close()
        self.records.close()
        self.templates.close()
        self.store.dispose()

    # -- the parts a caller may read (and tests swap in a running service) --------------------------
    settings = _part("ctx.settings", "The settings, shared by every service through the context.")
    store = _part("ctx.store", "The relational store.")
    clock = _part("ctx.clock", "The clock.")
    index = _part("templates.index", "The vector index.")
    face_models = _part("extraction.face_models", "The face model loader.")
    extraction_pool = _part("extraction.pool",
                            "Face extraction worker processes, once a server started them.")
    rate_limiter = _part("search.rate_limiter", "The per-user search rate limit.")

    def health(self) -> dict[str, object]:
        with self.store.read() as s:
            s.execute(text("SELECT 1"))
        pool = self.extraction.pool
        return {"status": "ok", "database": self.store.dialect, "index": type(self.index).__name__,
                "face_models_loaded": self.extraction.models_ready,  # in the workers, when there are some
                "extraction_workers": pool.workers if pool else 0, "demo": self.settings.demo}

    def list_sources(self, actor: Actor) -> list[SourceView]:
        """The connected record sources the actor's agency reaches, with what the actor may see."""
        actor.require(Permission.GALLERY_READ)
        return self.records.describe(actor)

    def source_health(self, actor: Actor, name: str | None = None) -> list[SourceHealth]:
        """Probe the record sources in reach (or the one named) now."""
        actor.require(Permission.GALLERY_READ)
        return self.records.health(actor, name)

    # -- the documented Python API, each method delegating to its service ----------------------------
    calibration = _via("calibrations", Calibrations.get)
    face_model_id = _via("extraction", ExtractionService.face_model_id)
    start_extraction_workers = _via("extraction", ExtractionService.start_workers)
    reconcile = _via("templates", TemplateIndex.reconcile)
    authenticate = _via("auth", Authenticator.authenticate)
    measure_face = _via("extraction", ExtractionService.measure_face)
    prepare_sample = _via("extraction", ExtractionService.prepare_sample)
    create_gallery = _via("galleries", GalleryService.create_gallery)
    list_galleries = _via("galleries", GalleryService.list_galleries)
    get_gallery = _via("galleries", GalleryService.get_gallery)
    set_gallery_fpir = _via("galleries", GalleryService.set_gallery_fpir)
    get_identity = _via("galleries", GalleryService.get_identity)
    list_identities = _via("galleries", GalleryService.list_identities)
    sample_thumbnail = _via("galleries", GalleryService.sample_thumbnail)
    delete_identity = _via("galleries", GalleryService.delete_identity)
    enroll = _via("enrolment", EnrolmentService.enroll)
    enroll_prepared = _via("enrolment", EnrolmentService.enroll_prepared)
    add_samples = _via("enrolment", EnrolmentService.add_samples)
    identify = _via("search", SearchService.identify)
    identify_federated = _via("search", SearchService.identify_federated)
    verify = _via("search", SearchService.verify)
    get_search = _via("search", SearchService.get_search)
    create_agency = _via("admin", AdminService.create_agency)
    create_user = _via("admin", AdminService.create_user)
    issue_api_key = _via("admin", AdminService.issue_api_key)
    revoke_api_key = _via("admin", AdminService.revoke_api_key)
    set_training_mode = _via("admin", AdminService.set_training_mode)
    set_my_training_mode = _via("admin", AdminService.set_my_training_mode)
    list_users = _via("admin", AdminService.list_users)
    actor_for = _via("admin", AdminService.actor_for)
    share_gallery = _via("sharing", SharingService.share_gallery)
    revoke_sharing = _via("sharing", SharingService.revoke_sharing)
    list_sharing = _via("sharing", SharingService.list_sharing)
    record_authorization = _via("authorizations", AuthorizationService.record_authorization)
    review_candidate = _via("review", ReviewService.review_candidate)
    record_evidence = _via("review", ReviewService.record_evidence)
    review_status = _via("review", ReviewService.review_status)
    file_challenge = _via("redress", RedressService.file_challenge)
    list_challenges = _via("redress", RedressService.list_challenges)
    get_challenge = _via("redress", RedressService.get_challenge)
    resolve_challenge = _via("redress", RedressService.resolve_challenge)
    run_retention = _via("retention", RetentionService.run_retention)
    search_audit = _via("oversight", OversightService.search_audit)
    export_audit = _via("oversight", OversightService.export_audit)
    chain_status = _via("oversight", OversightService.chain_status)
    transparency_report = _via("oversight", OversightService.transparency_report)


__all__ = ["EnrollmentInfo", "FieldID", "ImageInput", "PreparedSample", "SearchContext"]

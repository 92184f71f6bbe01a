"""Connected record systems: which sources the caller's agency reaches, and their health."""

from __future__ import annotations

from fastapi import APIRouter

from fieldid.api import schemas
from fieldid.api.deps import Fid, GalleryReader

router = APIRouter(prefix="/v1", tags=["records"])


@router.get("/sources", response_model=list[schemas.SourceOut])
def list_sources(actor: GalleryReader, fid: Fid) -> object:
    """Record sources in reach of the caller's agency (others are never named), with what the
    caller's role may see of their records."""
    return fid.list_sources(actor)


@router.get("/sources/health", response_model=list[schemas.SourceHealthOut])
def all_sources_health(actor: GalleryReader, fid: Fid) -> object:
    """Probe every record source in reach now (concurrently, within the lookup deadline)."""
    return fid.source_health(actor)


@router.get("/sources/{name}/health", response_model=schemas.SourceHealthOut)
def source_health(name: str, actor: GalleryReader, fid: Fid) -> object:
    """Probe one record source now; an unknown or out-of-reach source is ``source_not_found``."""
    return fid.source_health(actor, name)[0]

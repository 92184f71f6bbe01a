"""Everyday commands: agencies and users, galleries, enrolment, identification, verification and
record sources. Each acts as a named local user (``--as``), audited like an API caller."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from fieldid.cli import render
from fieldid.cli.app import (
    AsJson,
    AsUser,
    admin_app,
    app,
    command,
    console,
    err,
    gallery_app,
    read_file,
    sources_app,
)
from fieldid.governance.actor import SYSTEM
from fieldid.governance.roles import Role
from fieldid.inputs import EnrollmentInfo, FingerInput, SearchContext
from fieldid.views import galleries_table

if TYPE_CHECKING:
    from fieldid.service import FieldID


# -- admin -------------------------------------------------------------------------------------------
@command(admin_app, "bootstrap")
def admin_bootstrap(
    fid: FieldID,
    agency: Annotated[str, typer.Option(help="Agency id (lower-case, digits, '-').")] = "local",
    agency_name: Annotated[str, typer.Option(help="Agency name.")] = "Local agency",
    operator: Annotated[str, typer.Option(help="Username of the first supervisor.")] = "operator",
    admin: Annotated[str, typer.Option(help="Username of the agency admin.")] = "admin",
) -> None:
    """Create an agency with an agency admin and a supervisor, and print their API keys (once)."""
    fid.admin.create_agency(SYSTEM, agency, agency_name)
    table = Table("user", "role", "API key (shown once)")
    for username, role in ((admin, Role.AGENCY_ADMIN), (operator, Role.SUPERVISOR)):
        fid.admin.create_user(SYSTEM, username, role, agency_id=agency)
        table.add_row(username, role.value, fid.admin.issue_api_key(SYSTEM, username).api_key)
    console.print(table)


@command(admin_app, "user")
def admin_user(
    fid: FieldID,
    username: str,
    role: Annotated[str, typer.Option(help="trainee|officer|supervisor|auditor|agency_admin|system_admin")],
    agency: Annotated[str, typer.Option(help="Agency id.")],
    key: Annotated[bool, typer.Option(help="Also issue an API key and print it.")] = True,
) -> None:
    """Create a user (as the local system administrator)."""
    user = fid.admin.create_user(SYSTEM, username, role, agency_id=agency)
    console.print(f"created {user['username']} ({user['role']}) in {user['agency_id']}")
    if key:
        console.print(f"API key (shown once): [bold]{fid.admin.issue_api_key(SYSTEM, username).api_key}[/]")


# -- galleries -----------------------------------------------------------------------------------------
@command(gallery_app, "create")
def gallery_create(
    fid: FieldID,
    name: str,
    as_user: AsUser = "admin",
    fpir: Annotated[float | None, typer.Option(help="Target FPIR (e.g. 0.01).")] = None,
    description: str = "",
    kind: Annotated[str, typer.Option(help="operational | training | demo")] = "operational",
) -> None:
    """Create a gallery."""
    console.print(fid.galleries.create_gallery(fid.actor_for(as_user), name, description=description,
                                               target_fpir=fpir, kind=kind))


@command(gallery_app, "list")
def gallery_list(fid: FieldID, as_user: AsUser = "operator") -> None:
    """List the galleries in reach."""
    console.print(galleries_table(fid.galleries.list_galleries(fid.actor_for(as_user))))


# -- enrol / identify / verify -----------------------------------------------------------------------
@command(app)
def enroll(
    fid: FieldID,
    source: Annotated[Path,
                      typer.Argument(help="Folder (one sub-folder per person) or path,label manifest.")],
    gallery: Annotated[str, typer.Option(help="Gallery name or id.")],
    legal_basis: Annotated[str, typer.Option(help="Legal basis or consent reference for the images.")],
    as_user: AsUser = "operator",
    max_images: Annotated[int, typer.Option(help="Most images enrolled per person.")] = 5,
    limit: Annotated[int | None, typer.Option(help="Enrol at most this many people.")] = None,
    workers: Annotated[int | None, typer.Option(help="Extraction processes.")] = None,
    ray: Annotated[str | None, typer.Option(
        help="Fan extraction out over Ray: 'local', 'auto' or ray://host:port.")] = None,
) -> None:
    """Bulk-enrol people (resumable: people already enrolled by label are skipped)."""
    from fieldid.bulk import bulk_enroll, items_from

    report = bulk_enroll(fid, fid.actor_for(as_user), gallery, items_from(source), legal_basis=legal_basis,
                         source=str(source), max_images_per_identity=max_images, limit=limit, workers=workers,
                         ray_address=ray)
    console.print(f"enrolled {report.identities_enrolled} people ({report.images_accepted} images); "
                  f"skipped {report.identities_skipped} already enrolled; "
                  f"{report.identities_failed} without a usable image")
    if report.rejected:
        table = Table("rejected because", "images", title="Rejected images")
        for code, n in report.rejected_by_reason().most_common():
            table.add_row(code, str(n))
        console.print(table)
        for path, code, message in report.rejected[:20]:
            console.print(f"  [dim]{path}[/]: {code} {message}")
    if report.possible_duplicates:
        console.print(f"[yellow]{len(report.possible_duplicates)} possible duplicates reported[/]")


FingerOpt = Annotated[list[Path] | None, typer.Option("--finger", help="Fingerprint image (repeatable).")]
PositionOpt = Annotated[list[int] | None, typer.Option(
    "--position", help="ANSI/NIST position of each --finger, in order (1 right thumb … 10 left little).")]
ContactlessOpt = Annotated[bool, typer.Option(help="The finger images are phone photos (contactless).")]


def _fingers(paths: list[Path] | None, positions: list[int] | None, contactless: bool) -> list[FingerInput]:
    paths, positions = paths or [], positions or []
    if positions and len(positions) != len(paths):
        err.print("[red]give one --position per --finger (or none)[/]")
        raise typer.Exit(2)
    return [FingerInput(read_file(p), pos, contactless, p.name)
            for p, pos in zip(paths, positions or [0] * len(paths), strict=True)]


@command(app)
def identify(
    fid: FieldID,
    image: Annotated[Path | None, typer.Argument(help="Face photo (optional with --finger).")] = None,
    gallery: Annotated[list[str] | None, typer.Option(help="Gallery name or id (repeatable).")] = None,
    purpose: Annotated[str, typer.Option(help="Purpose code.")] = "",
    case: Annotated[str, typer.Option(help="Case number.")] = "",
    legal_basis: str = "",
    finger: FingerOpt = None,
    position: PositionOpt = None,
    contactless: ContactlessOpt = False,
    top_k: Annotated[int | None, typer.Option(help="Candidates at most.")] = None,
    investigative: Annotated[bool, typer.Option(help="Include labelled leads under the threshold.")] = False,
    as_json: AsJson = False,
    as_user: AsUser = "operator",
) -> None:
    """Search 1:N by a face photo, fingerprints, or both (fused) in one or more galleries."""
    if image is None and not finger:
        err.print("[red]give a face photo, --finger images, or both[/]")
        raise typer.Exit(2)
    data = read_file(image) if image is not None else None
    prints = _fingers(finger, position, contactless)
    result = fid.search.identify(fid.actor_for(as_user), gallery or [], data, SearchContext(purpose, case,
                                                                                            legal_basis),
                                 top_k=top_k, investigative=investigative, fingers=prints)
    from fieldid.api.schemas import IdentifyResponse  # the API's body: --json prints it as the API would

    body = IdentifyResponse.model_validate(result)
    if as_json:
        render.print_body(body)
    else:
        console.print(render.identify_result(body))


@command(app, "add-fingers")
def add_fingers(
    fid: FieldID,
    identity: Annotated[str, typer.Argument(help="Identity id.")],
    finger: FingerOpt = None,
    position: PositionOpt = None,
    legal_basis: Annotated[str, typer.Option(help="Legal basis or consent reference.")] = "",
    contactless: ContactlessOpt = False,
    as_user: AsUser = "operator",
) -> None:
    """Enrol fingerprints (by finger position) for an enrolled identity."""
    prints = _fingers(finger, position, contactless)
    if not prints:
        err.print("[red]give at least one --finger[/]")
        raise typer.Exit(2)
    r = fid.enrolment.add_samples(fid.actor_for(as_user), identity, [],
                                  EnrollmentInfo(legal_basis=legal_basis, source="cli"), fingers=prints)
    console.print(f"{r.accepted} print(s) enrolled for {r.identity.pseudonym}")
    for rej in r.rejected:
        console.print(f"  [yellow]rejected[/] {rej.filename}: {rej.code} {rej.message}")


@command(app)
def verify(
    fid: FieldID,
    image: Path,
    identity: Annotated[str, typer.Option(help="Identity id.")],
    purpose: Annotated[str, typer.Option(help="Purpose code.")] = "",
    case: Annotated[str, typer.Option(help="Case number.")] = "",
    as_json: AsJson = False,
    as_user: AsUser = "operator",
) -> None:
    """Compare a face photo 1:1 with one enrolled identity."""
    from fieldid.api.schemas import VerifyResponse

    data = read_file(image)
    body = VerifyResponse.model_validate(
        fid.search.verify(fid.actor_for(as_user), identity, data, SearchContext(purpose, case)))
    if as_json:
        render.print_body(body)
    else:
        console.print(render.verify_result(body))


# -- record sources ------------------------------------------------------------------------------------
@command(sources_app, "list")
def sources_list(fid: FieldID, as_json: AsJson = False, as_user: AsUser = "operator") -> None:
    """The record sources in reach of the user's agency and what the user may see of them."""
    from fieldid.api.schemas import SourceOut

    views = [SourceOut.model_validate(v) for v in fid.list_sources(fid.actor_for(as_user))]
    if as_json:
        render.print_body(views)
    else:
        console.print(render.sources_table(views) if views
                      else "No record source is configured for this agency.")


@command(sources_app, "health")
def sources_health(
    fid: FieldID,
    name: Annotated[str | None, typer.Argument(help="One source (default: all in reach).")] = None,
    as_json: AsJson = False,
    as_user: AsUser = "operator",
) -> None:
    """Probe the record sources now; exits 1 when any did not answer."""
    from fieldid.api.schemas import SourceHealthOut

    checks = [SourceHealthOut.model_validate(h) for h in fid.source_health(fid.actor_for(as_user), name)]
    if as_json:
        render.print_body(checks)
    else:
        console.print(render.health_table(checks))
    if any(h.status != "ok" for h in checks):
        raise typer.Exit(1)

"""The `fieldid` command line (Typer + Rich).

Settings come from the environment (``FIELDID_*``) and the global options, built once here
and passed down. Commands act as a named local user (``--as``, default ``$FIELDID_CLI_USER``
or ``operator``) so that every CLI search is audited like an API search.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from fieldid.config import Settings
from fieldid.errors import FieldIDError, InvalidRequest

app = typer.Typer(no_args_is_help=True, help="FieldID: accountable field biometric identification.",
                  pretty_exceptions_enable=False, rich_markup_mode="rich")
admin_app = typer.Typer(no_args_is_help=True, help="Agencies, users and API keys.")
gallery_app = typer.Typer(no_args_is_help=True, help="Galleries.")
eval_app = typer.Typer(no_args_is_help=True, help="Evaluations: accuracy, DET curves, open-set identification.")
calibrate_app = typer.Typer(no_args_is_help=True, help="Build score → FMR calibration tables.")
audit_app = typer.Typer(no_args_is_help=True, help="The tamper-evident audit log.")
retention_app = typer.Typer(no_args_is_help=True, help="Retention: purge what has outlived its time.")
report_app = typer.Typer(no_args_is_help=True, help="Reports.")
sources_app = typer.Typer(no_args_is_help=True, help="Connected record systems.")
keys_app = typer.Typer(no_args_is_help=True, help="Data keys: encryption at rest of biometric data.")
app.add_typer(admin_app, name="admin")
app.add_typer(gallery_app, name="gallery")
app.add_typer(eval_app, name="eval")
app.add_typer(calibrate_app, name="calibrate")
app.add_typer(audit_app, name="audit")
app.add_typer(retention_app, name="retention")
app.add_typer(report_app, name="report")
app.add_typer(sources_app, name="sources")
app.add_typer(keys_app, name="keys")

console = Console()
err = Console(stderr=True)

AsUser = Annotated[str, typer.Option("--as", envvar="FIELDID_CLI_USER", help="Local user the command acts as.")]


class State:
    settings: Settings


state = State()


@app.callback()
def main(
    data_dir: Annotated[Path | None, typer.Option(help="Data directory (database, index files).")] = None,
    database_url: Annotated[str | None, typer.Option(help="SQLAlchemy URL of the store.")] = None,
    index_backend: Annotated[str | None, typer.Option(help="faiss | milvus | memory")] = None,
) -> None:
    overrides: dict[str, Any] = {}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    if database_url is not None:
        overrides["database_url"] = database_url
    if index_backend is not None:
        overrides["index_backend"] = index_backend
    state.settings = Settings(**overrides)


def fail(exc: FieldIDError) -> None:
    err.print(f"[bold red]error[/] [red]{exc.code}[/]: {exc.message}")
    if exc.details:
        err.print(json.dumps(exc.details, indent=1, default=str))
    raise typer.Exit(2)


def open_service():  # type: ignore[no-untyped-def]
    from fieldid.service import FieldID

    return FieldID.open(state.settings)


def run(fn):  # type: ignore[no-untyped-def]
    """Call fn(service) with the service open, mapping FieldID errors to exit code 2."""
    service = None
    try:
        service = open_service()
        return fn(service)
    except FieldIDError as exc:
        fail(exc)
    finally:
        if service is not None:
            service.close()


# -- admin ---------------------------------------------------------------------------------------
@admin_app.command("bootstrap")
def admin_bootstrap(
    agency: Annotated[str, typer.Option(help="Agency id (lower-case, digits, '-').")] = "local",
    agency_name: Annotated[str, typer.Option(help="Agency name.")] = "Local agency",
    operator: Annotated[str, typer.Option(help="Username of the first supervisor.")] = "operator",
    admin: Annotated[str, typer.Option(help="Username of the agency admin.")] = "admin",
) -> None:
    """Create an agency with an agency admin and a supervisor, and print their API keys (once)."""
    from fieldid.governance.admin import SYSTEM
    from fieldid.governance.roles import Role

    def go(service) -> None:  # type: ignore[no-untyped-def]
        service.create_agency(SYSTEM, agency, agency_name)
        table = Table("user", "role", "API key (shown once)")
        for username, role in ((admin, Role.AGENCY_ADMIN), (operator, Role.SUPERVISOR)):
            service.create_user(SYSTEM, username, role, agency_id=agency)
            table.add_row(username, role.value, service.issue_api_key(SYSTEM, username).api_key)
        console.print(table)

    run(go)


@admin_app.command("user")
def admin_user(
    username: str,
    role: Annotated[str, typer.Option(help="trainee|officer|supervisor|auditor|agency_admin|system_admin")],
    agency: Annotated[str, typer.Option(help="Agency id.")],
    key: Annotated[bool, typer.Option(help="Also issue an API key and print it.")] = True,
) -> None:
    """Create a user (as the local system administrator)."""
    from fieldid.governance.admin import SYSTEM

    def go(service) -> None:  # type: ignore[no-untyped-def]
        user = service.create_user(SYSTEM, username, role, agency_id=agency)
        console.print(f"created {user['username']} ({user['role']}) in {user['agency_id']}")
        if key:
            console.print(f"API key (shown once): [bold]{service.issue_api_key(SYSTEM, username).api_key}[/]")

    run(go)


# -- galleries -----------------------------------------------------------------------------------
@gallery_app.command("create")
def gallery_create(
    name: str,
    as_user: AsUser = "admin",
    fpir: Annotated[float | None, typer.Option(help="Target FPIR (e.g. 0.01).")] = None,
    description: str = "",
    kind: Annotated[str, typer.Option(help="operational | training | demo")] = "operational",
) -> None:
    """Create a gallery."""
    run(lambda s: console.print(
        s.create_gallery(s.actor_for(as_user), name, description=description, target_fpir=fpir, kind=kind)))


@gallery_app.command("list")
def gallery_list(as_user: AsUser = "operator") -> None:
    """List the galleries in reach."""

    def go(service) -> None:  # type: ignore[no-untyped-def]
        table = Table("name", "id", "kind", "identities", "target FPIR", "version")
        for g in service.list_galleries(service.actor_for(as_user)):
            table.add_row(g.name, g.id, g.kind, f"{g.identity_count:,}", f"{g.target_fpir:g}", str(g.version))
        console.print(table)

    run(go)


# -- enrol / identify / verify -------------------------------------------------------------------
@app.command()
def enroll(
    source: Annotated[Path, typer.Argument(help="Folder (one sub-folder per person) or path,label manifest.")],
    gallery: Annotated[str, typer.Option(help="Gallery name or id.")],
    legal_basis: Annotated[str, typer.Option(help="Legal basis or consent reference for the images.")],
    as_user: AsUser = "operator",
    max_images: Annotated[int, typer.Option(help="Most images enrolled per person.")] = 5,
    limit: Annotated[int | None, typer.Option(help="Enrol at most this many people.")] = None,
    workers: Annotated[int | None, typer.Option(help="Extraction processes.")] = None,
    ray: Annotated[str | None, typer.Option(help="Fan extraction out over Ray: 'local', 'auto' or ray://host:port.")] = None,
) -> None:
    """Bulk-enrol people (resumable: people already enrolled by label are skipped)."""
    from fieldid.bulk import bulk_enroll, items_from

    def go(service) -> None:  # type: ignore[no-untyped-def]
        report = bulk_enroll(service, service.actor_for(as_user), gallery, items_from(source),
                             legal_basis=legal_basis, source=str(source), max_images_per_identity=max_images,
                             limit=limit, workers=workers, ray_address=ray)
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

    run(go)


def _print_identify(result: Any, as_json: bool) -> None:
    from fieldid.api.schemas import IdentifyResponse

    body = IdentifyResponse.model_validate(result)
    if as_json:
        sys.stdout.write(body.model_dump_json(indent=2) + "\n")
        return
    op = body.operating_point
    console.print(f"[bold]search {body.search_id}[/]  outcome: [bold]{body.outcome}[/]  "
                  f"gallery size {body.gallery_size:,}  threshold {op.threshold:.3f} "
                  f"(FPIR target {op.fpir_target:.2%})")
    if body.demo:
        console.print("[black on yellow] DEMO DATA [/]")
    console.print(f"probe quality {body.quality.score:.0f}/100"
                  + (": " + ", ".join(i.code for i in body.quality.issues) if body.quality.issues else ""))
    if body.candidates:
        table = Table("rank", "pseudonym", "name", "score", "FMR", "expected false candidates", "strength", "tier")
        for c in body.candidates:
            table.add_row(str(c.rank), c.pseudonym, c.display_name or "—", f"{c.score:.3f}", f"{c.fmr:.1e}",
                          f"{c.expected_false_candidates:.2g}", c.strength, c.tier)
        console.print(table)
        for c in body.candidates:
            for r in c.records:
                shown = ", ".join(f"{k}={v}" for k, v in sorted(r.fields.items()))
                console.print(f"  {c.pseudonym}: [bold]{r.source}[/] {r.record_type} {r.record_id}"
                              + (" [black on yellow] DEMO [/]" if r.demo else "")
                              + (f" (updated {r.updated_at:%Y-%m-%d})" if r.updated_at else "") + f"  {shown}")
    for st in body.record_sources:
        if st.status != "ok":
            console.print(f"record source {st.source}: [yellow]{st.status}[/] {st.message}")
    for reason in body.reasons:
        console.print(f"• {reason}")


FingerOpt = Annotated[list[Path] | None, typer.Option("--finger", help="Fingerprint image (repeatable).")]
PositionOpt = Annotated[list[int] | None, typer.Option(
    "--position", help="ANSI/NIST position of each --finger, in order (1 right thumb … 10 left little).")]
ContactlessOpt = Annotated[bool, typer.Option(help="The finger images are phone photos (contactless).")]


def _fingers(paths: list[Path] | None, positions: list[int] | None, contactless: bool):  # type: ignore[no-untyped-def]
    from fieldid.fingers import FingerInput

    paths, positions = paths or [], positions or []
    if positions and len(positions) != len(paths):
        err.print("[red]give one --position per --finger (or none)[/]")
        raise typer.Exit(2)
    try:
        return [FingerInput(_read(p), pos, contactless, p.name)
                for p, pos in zip(paths, positions or [0] * len(paths), strict=True)]
    except FieldIDError as exc:
        fail(exc)
        raise


@app.command()
def identify(
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
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON body.")] = False,
    as_user: AsUser = "operator",
) -> None:
    """Search 1:N by a face photo, fingerprints, or both (fused) in one or more galleries."""
    from fieldid.service import SearchContext

    if image is None and not finger:
        err.print("[red]give a face photo, --finger images, or both[/]")
        raise typer.Exit(2)
    data = _read(image) if image is not None else None
    prints = _fingers(finger, position, contactless)
    run(lambda s: _print_identify(
        s.identify(s.actor_for(as_user), gallery or [], data, SearchContext(purpose, case, legal_basis),
                   top_k=top_k, investigative=investigative, fingers=prints), as_json))


@app.command("add-fingers")
def add_fingers(
    identity: Annotated[str, typer.Argument(help="Identity id.")],
    finger: FingerOpt = None,
    position: PositionOpt = None,
    legal_basis: Annotated[str, typer.Option(help="Legal basis or consent reference.")] = "",
    contactless: ContactlessOpt = False,
    as_user: AsUser = "operator",
) -> None:
    """Enrol fingerprints (by finger position) for an enrolled identity."""
    from fieldid.service import EnrollmentInfo

    prints = _fingers(finger, position, contactless)
    if not prints:
        err.print("[red]give at least one --finger[/]")
        raise typer.Exit(2)

    def go(service) -> None:  # type: ignore[no-untyped-def]
        r = service.add_samples(service.actor_for(as_user), identity, [],
                                EnrollmentInfo(legal_basis=legal_basis, source="cli"), fingers=prints)
        console.print(f"{r.accepted} print(s) enrolled for {r.identity.pseudonym}")
        for rej in r.rejected:
            console.print(f"  [yellow]rejected[/] {rej.filename}: {rej.code} {rej.message}")

    run(go)


@app.command()
def verify(
    image: Path,
    identity: Annotated[str, typer.Option(help="Identity id.")],
    purpose: Annotated[str, typer.Option(help="Purpose code.")] = "",
    case: Annotated[str, typer.Option(help="Case number.")] = "",
    as_json: Annotated[bool, typer.Option("--json")] = False,
    as_user: AsUser = "operator",
) -> None:
    """Compare a face photo 1:1 with one enrolled identity."""
    from fieldid.api.schemas import VerifyResponse
    from fieldid.service import SearchContext

    data = _read(image)

    def go(service) -> None:  # type: ignore[no-untyped-def]
        body = VerifyResponse.model_validate(
            service.verify(service.actor_for(as_user), identity, data, SearchContext(purpose, case)))
        if as_json:
            sys.stdout.write(body.model_dump_json(indent=2) + "\n")
        else:
            console.print(f"[bold]{body.assessment}[/] score {body.score:.3f}, FMR {body.fmr:.1e} "
                          f"(threshold {body.threshold:.3f} at FMR {body.threshold_fmr:g})")
            console.print(body.explanation)

    run(go)


@sources_app.command("list")
def sources_list(as_json: Annotated[bool, typer.Option("--json")] = False, as_user: AsUser = "operator") -> None:
    """The record sources in reach of the user's agency and what the user may see of them."""
    from fieldid.api.schemas import SourceOut

    def go(service) -> None:  # type: ignore[no-untyped-def]
        views = [SourceOut.model_validate(v) for v in service.list_sources(service.actor_for(as_user))]
        if as_json:
            sys.stdout.write(json.dumps([v.model_dump(mode="json") for v in views], indent=2) + "\n")
            return
        table = Table("name", "title", "connector", "kind", "access", "federated only", "circuit")
        for v in views:
            table.add_row(v.name, v.title, v.connector, v.kind + (" (DEMO)" if v.demo else ""), v.access,
                          "yes" if v.federated_only else "no", v.circuit)
        console.print(table if views else "No record source is configured for this agency.")

    run(go)


@sources_app.command("health")
def sources_health(
    name: Annotated[str | None, typer.Argument(help="One source (default: all in reach).")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    as_user: AsUser = "operator",
) -> None:
    """Probe the record sources now; exits 1 when any did not answer."""
    from fieldid.api.schemas import SourceHealthOut

    def go(service) -> None:  # type: ignore[no-untyped-def]
        checks = [SourceHealthOut.model_validate(h) for h in service.source_health(service.actor_for(as_user), name)]
        if as_json:
            sys.stdout.write(json.dumps([h.model_dump(mode="json") for h in checks], indent=2) + "\n")
        else:
            table = Table("source", "status", "latency ms", "circuit", "message")
            for h in checks:
                colour = "green" if h.status == "ok" else "red"
                table.add_row(h.source, f"[{colour}]{h.status}[/]",
                              "—" if h.latency_ms is None else f"{h.latency_ms:.0f}", h.circuit, h.message)
            console.print(table)
        if any(h.status != "ok" for h in checks):
            raise typer.Exit(1)

    run(go)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        err.print(f"[red]cannot read {path}: {exc.strerror}[/]")
        raise typer.Exit(2) from None


# -- serve / demo --------------------------------------------------------------------------------
@app.command()
def serve(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Run the HTTP API server."""
    import uvicorn

    from fieldid.api import create_app

    s = state.settings
    uvicorn.run(create_app(s), host=host or s.host, port=port or s.port, log_level="info")


@app.command()
def demo(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
    identities: Annotated[int | None, typer.Option(help="Demo people to enrol (first run).")] = None,
    data: Annotated[Path | None, typer.Option(help="Face data set folder with manifest.csv.")] = None,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Prepare the demo, do not serve.")] = False,
) -> None:
    """Prepare a pseudonymous demo gallery (first run) and serve it with a DEMO banner."""
    from fieldid.demo import prepare_demo

    overrides: dict[str, Any] = {"demo": True}
    if "FIELDID_DATA_DIR" not in os.environ and state.settings.data_dir == Path("var"):
        overrides["data_dir"] = Path("var/demo")
    if identities is not None:
        overrides["demo_identities"] = identities
    if data is not None:
        overrides["demo_data_dir"] = data
    settings = state.settings.model_copy(update=overrides)
    state.settings = settings
    try:
        info = prepare_demo(settings, console=console)
    except FieldIDError as exc:
        fail(exc)
        return
    console.print(f"[black on yellow] DEMO [/] {info['identities']} pseudonymous people enrolled in "
                  f"'{info['gallery']}'. Demo API keys are in {info['keys_file']}.")
    if not no_serve:
        import uvicorn

        from fieldid.api import create_app

        console.print(f"open http://{host or settings.host}:{port or settings.port}/")
        uvicorn.run(create_app(settings), host=host or settings.host, port=port or settings.port)


# -- evaluation ----------------------------------------------------------------------------------
@eval_app.command("faces")
def eval_faces(
    out: Annotated[Path, typer.Option(help="Output folder for results.json, det.png, report.html.")],
    pairs: Annotated[Path | None, typer.Option(help="LFW pairs.txt (pairs protocol).")] = None,
    images: Annotated[Path | None, typer.Option(help="Image folder for --pairs (DIR/<name>/<name>_NNNN.jpg).")] = None,
    manifest: Annotated[Path | None, typer.Option(help="path,label[,group] CSV (open-set identification).")] = None,
    groups: Annotated[Path | None, typer.Option(help="path,label,group CSV for the per-group table.")] = None,
    cache: Annotated[Path | None, typer.Option(help="Embedding cache folder.")] = Path("var/cache/embeddings"),
    workers: Annotated[int | None, typer.Option(help="Extraction processes.")] = None,
) -> None:
    """Face accuracy: the LFW pairs protocol, or open-set 1:N identification on a manifest."""
    from fieldid.eval.report import run_face_eval

    if (pairs is None) == (manifest is None):
        err.print("[red]give either --pairs (with --images) or --manifest[/]")
        raise typer.Exit(2)
    if pairs is not None and images is None:
        images = pairs.parent / "images"
    try:
        results = run_face_eval(state.settings, out, pairs=pairs, images=images, manifest=manifest,
                                groups=groups, cache_dir=cache, workers=workers)
    except FieldIDError as exc:
        fail(exc)
        return
    summary = {k: v for k, v in results.items() if not isinstance(v, (list, dict)) or k == "fnir_at_fpir"}
    console.print_json(json.dumps(summary, default=str))
    published = _publish_evaluation(out)
    console.print(f"written: {out / 'results.json'}, {out / 'det.png'}, {out / 'report.html'}"
                  + (f"; published to the console's accuracy page ({published})" if published else ""))


def _publish_evaluation(out: Path) -> Path | None:
    """Copy an evaluation's results into <data_dir>/eval/<name>/, where the oversight console's
    accuracy page reads the latest one."""
    import shutil

    target = state.settings.data_dir / "eval" / out.resolve().name
    if target.resolve() == out.resolve():
        return target
    target.mkdir(parents=True, exist_ok=True)
    for f in out.iterdir():
        if f.is_file() and f.suffix in (".json", ".png", ".html"):
            shutil.copyfile(f, target / f.name)
    return target


@eval_app.command("fingers")
def eval_fingers(
    manifest: Annotated[Path, typer.Option(help="path,label CSV of fingerprint images (FVC layout or any).")],
    out: Annotated[Path, typer.Option(help="Output folder for results.json, det.png, scores.npz.")],
    workers: Annotated[int | None, typer.Option(help="Extraction processes.")] = None,
) -> None:
    """Fingerprint accuracy: EER, FNMR at FMR 1%/0.1%/0.01%, DET plot and 1:N rank-1."""
    from fieldid.eval.fingers import run_finger_eval

    try:
        r = run_finger_eval(state.settings, manifest, out, workers=workers)
    except FieldIDError as exc:
        fail(exc)
        return
    table = Table("impostors", "EER", "FNMR@FMR 1%", "FNMR@FMR 0.1%", "FNMR@FMR 0.01%", "pairs (gen/imp)",
                  title=f"Fingerprints — {manifest}")
    for name, rates in (("protocol", r), ("all different fingers", r["all_impostors"])):
        f = rates["fnmr_at_fmr"]
        table.add_row(name, f"{rates['eer']:.2%}", f"{f['0.01']:.2%}", f"{f['0.001']:.2%}", f"{f['0.0001']:.2%}",
                      f"{rates['genuine_pairs']}/{rates['impostor_pairs']}")
    console.print(table)
    console.print(f"1:N rank-1 {r['rank1']:.2%} over {r['searches']} searches; "
                  f"{r['failures_to_extract']} failures to extract; "
                  f"{r['comparisons_per_second']:,.0f} comparisons/s")
    console.print(f"written: {out / 'results.json'}, {out / 'det.png'}")


@calibrate_app.command("faces")
def calibrate_faces_cmd(
    manifest: Annotated[Path, typer.Option(help="path,label CSV of labelled faces.")],
    out: Annotated[Path, typer.Option(help="Calibration file to write (JSON).")],
    name: Annotated[str | None, typer.Option(help="Data set name recorded in the file.")] = None,
    holdout: Annotated[float, typer.Option(help="Share of identities kept out to check the table.")] = 0.0,
    cache: Annotated[Path | None, typer.Option(help="Embedding cache folder.")] = Path("var/cache/embeddings"),
    workers: Annotated[int | None, typer.Option(help="Extraction processes.")] = None,
) -> None:
    """Measure genuine/impostor scores on a labelled set and write a score → FMR table."""
    from fieldid.calibration_io import save_calibration
    from fieldid.eval.calibrate import calibrate_faces

    built = _build_calibration(manifest, lambda: calibrate_faces(
        manifest, state.settings, dataset_name=name, cache_dir=cache, workers=workers, holdout=holdout))
    if built is not None:
        cal, report = built
        save_calibration(cal, out)
        _print_calibration(cal, report, out, "", (1e-2, 1e-3, 1e-4, 1e-5, 1e-6))


def _build_calibration(manifest: Path, build: Any) -> tuple[Any, dict] | None:
    """Run ``build`` (→ table, report); bad input or too few pairs is a clear error (None)."""
    try:
        return build()
    except FieldIDError as exc:
        fail(exc)
    except ValueError as exc:  # too few pairs on the build side
        fail(InvalidRequest(f"Cannot calibrate on {manifest}: {exc}."))
    return None


def _print_calibration(cal: Any, report: dict, out: Path, extra: str, levels: tuple[float, ...]) -> None:
    """A new calibration table's thresholds and its held-out check."""
    console.print(f"calibration {cal.version} for {cal.model_id} on {cal.dataset}: "
                  f"{cal.genuine_pairs:,} genuine and {cal.impostor_pairs:,} impostor pairs{extra} → {out}")
    table = Table("FMR", "threshold", "FNMR")
    for level in levels:
        t = cal.threshold_at_fmr(level)
        table.add_row(f"{level:g}", f"{t:.4f}", f"{cal.fnmr(t):.4f}")
    console.print(table)
    if report.get("calibration"):
        check = Table("predicted FMR", "observed FMR (held out)", "false matches", "impostor pairs")
        for row in report["calibration"]:
            check.add_row(f"{row['predicted_fmr']:g}", f"{row['observed_fmr']:.2e}", str(row["false_matches"]),
                          f"{row['impostor_pairs']:,}")
        console.print(check)


@calibrate_app.command("fingers")
def calibrate_fingers_cmd(
    manifest: Annotated[Path, typer.Option(help="path,label CSV of fingerprint images (one label per finger).")],
    out: Annotated[Path, typer.Option(help="Calibration file to write (JSON).")],
    name: Annotated[str | None, typer.Option(help="Data set name recorded in the file.")] = None,
    workers: Annotated[int | None, typer.Option(help="Extraction processes.")] = None,
) -> None:
    """Measure genuine/impostor fingerprint scores and write a score → FMR table.

    Fingers are split in two by a stable hash of their label: one half builds the table, the
    other checks it (observed vs predicted FMR). Put the file in the calibration folder
    (``calibration_dir``) to use it instead of the shipped one."""
    from fieldid.calibration_io import save_calibration
    from fieldid.eval.datasets import read_manifest
    from fieldid.eval.fingers import calibrate_fingers, extract_templates

    def build() -> tuple[Any, dict]:
        items = read_manifest(manifest)
        extracted = extract_templates(items, state.settings.image_limits, workers=workers,
                                      description="Calibration prints")
        return calibrate_fingers(items, extracted, dataset=name or Path(manifest).parent.name, quiet=False)

    built = _build_calibration(manifest, build)
    if built is not None:
        cal, report = built
        save_calibration(cal, out)
        _print_calibration(cal, report, out, f" ({report['build_fingers']} fingers; {report['check_fingers']} held out)",
                           (1e-2, 1e-3, 1e-4))


# -- audit / doctor ------------------------------------------------------------------------------
@audit_app.command("verify")
def audit_verify() -> None:
    """Check the audit log's hash chain; exit 1 and say where if any row was edited, removed or moved."""
    from fieldid.governance.audit import verify_chain

    def go(service) -> None:  # type: ignore[no-untyped-def]
        with service.store.read() as s:
            report = verify_chain(s)
        if report.intact:
            console.print(f"[green]audit chain intact[/]: {report.events:,} events, head {report.head_hash[:16]}… "
                          f"(seq {report.head_seq})")
            return
        console.print(f"[bold red]audit chain BROKEN[/] ({len(report.breaks)} problems in {report.events:,} events)")
        for b in report.breaks[:50]:
            console.print(f"  seq {b.seq} {b.event_id}: {b.problem} — {b.detail}")
        raise typer.Exit(1)

    run(go)


@audit_app.command("export")
def audit_export(
    out: Annotated[Path, typer.Option(help="JSON-lines file to write.")],
    as_user: AsUser = "auditor",
    case: Annotated[str | None, typer.Option(help="Only this case number.")] = None,
    user: Annotated[str | None, typer.Option(help="Only this user (username).")] = None,
    since: Annotated[datetime | None, typer.Option(help="From (UTC).")] = None,
    until: Annotated[datetime | None, typer.Option(help="Until (UTC).")] = None,
) -> None:
    """Export audit events (with their chain hashes) as JSON lines; the export is itself audited."""

    def go(service) -> None:  # type: ignore[no-untyped-def]
        events = service.export_audit(service.actor_for(as_user), case_number=case, user=user,
                                      since=_utc(since), until=_utc(until))
        out.write_text("".join(json.dumps(e, default=str, sort_keys=True) + "\n" for e in events))
        console.print(f"{len(events)} events → {out}")

    run(go)


@retention_app.command("run")
def retention_run() -> None:
    """Purge expired probe images, searches and audit events (as the local system admin); audited."""
    from fieldid.governance.admin import SYSTEM

    def go(service) -> None:  # type: ignore[no-untyped-def]
        report = service.run_retention(SYSTEM)
        console.print_json(json.dumps(report.as_dict()))

    run(go)


@report_app.command("transparency")
def report_transparency(
    since: Annotated[datetime, typer.Option(help="Period start (UTC).")],
    until: Annotated[datetime, typer.Option(help="Period end (UTC).")],
    agency: Annotated[str | None, typer.Option(help="One agency (default: all).")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Searches, candidates shown, confirmations, challenges and overturned results per agency."""
    from fieldid.governance.admin import SYSTEM

    def go(service) -> None:  # type: ignore[no-untyped-def]
        rows = service.transparency_report(SYSTEM, since=_utc(since), until=_utc(until), agency=agency)
        if as_json:
            sys.stdout.write(json.dumps(rows, default=str, indent=1) + "\n")
            return
        table = Table("agency", "searches", "with candidates", "no candidate", "under quality", "candidates shown",
                      "federated", "confirmed", "challenges", "upheld", "dismissed", "overturned",
                      title=f"Transparency report {since:%Y-%m-%d} – {until:%Y-%m-%d}")
        for r in rows:
            table.add_row(r["agency_id"], *(str(r[k]) for k in (
                "searches", "outcome_candidates", "outcome_no_candidate", "outcome_under_quality",
                "candidates_shown", "federated_searches", "confirmations", "challenges_filed",
                "challenges_upheld", "challenges_dismissed", "overturned_results")))
        console.print(table)

    run(go)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@keys_app.command("status")
def keys_status() -> None:
    """Which key encrypts how many stored values ("plain": written before encryption was on)."""
    from fieldid.storage.factory import open_store
    from fieldid.storage.rekey import raw_key_usage

    try:
        store = open_store(state.settings)
    except FieldIDError as exc:
        fail(exc)
        return
    try:
        if store.keyring is None:
            console.print("encryption at rest is [red]off[/] (encrypt_at_rest = false)")
            return
        usage = raw_key_usage(store, store.keyring)
        index_usage = _index_file_keys(state.settings)
        table = Table("key id", "role", "stored values", "index files")
        ids = [k.id.hex() for k in store.keyring.keys]
        for kid in [*ids, *sorted((set(usage) | set(index_usage)) - set(ids))]:
            role = "current" if kid == ids[0] else ("older" if kid in ids else "[red]unknown[/]" if kid != "plain"
                                                    else "[yellow]not encrypted[/]")
            table.add_row(kid, role, f"{usage.get(kid, 0):,}", f"{index_usage.get(kid, 0):,}")
        console.print(table)
    finally:
        store.dispose()


def _index_file_keys(settings: Settings) -> dict[str, int]:
    """Which key encrypts how many FAISS index files (empty for other index backends)."""
    if settings.index_backend != "faiss" or not settings.index_dir.is_dir():
        return {}
    from fieldid.storage.faiss_persist import file_keys

    return file_keys(settings.index_dir)


@keys_app.command("rotate")
def keys_rotate(
    drop_old: Annotated[bool, typer.Option(help="After re-encrypting, remove the older keys from the keyring.")] = False,
) -> None:
    """Add a new current data key and re-encrypt every stored value with it (with progress)."""
    from rich.progress import Progress

    from fieldid.storage.crypto import DataKey, Keyring
    from fieldid.storage.factory import open_store
    from fieldid.storage.rekey import raw_key_usage, reencrypt

    settings = state.settings
    if settings.data_keys:
        err.print("[red]the keyring comes from FIELDID_DATA_KEYS: rotate it in your secret store "
                  "(put the new key first), then run `fieldid keys rotate` without --drop-old[/]")
        raise typer.Exit(2)
    try:
        store = open_store(settings)
    except FieldIDError as exc:
        fail(exc)
        return
    try:
        if store.keyring is None:
            err.print("[red]encryption at rest is off[/]")
            raise typer.Exit(2)
        ring = Keyring([DataKey.generate(), *store.keyring.keys])
        ring.save(settings.resolved_data_keys_file)  # saved first: a crash midway leaves every key readable
        store.dispose()
        store = open_store(settings)
        with Progress(console=console) as progress:
            task = progress.add_task("Re-encrypting", total=None)
            n = reencrypt(store, lambda done, total: progress.update(task, completed=done, total=total))
        rewritten = 0
        if settings.index_backend == "faiss" and settings.index_dir.is_dir():
            from fieldid.storage.faiss_persist import reencrypt_files

            rewritten = reencrypt_files(settings.index_dir, store.keyring)
        usage = raw_key_usage(store, store.keyring)
        for kid, count in _index_file_keys(settings).items():
            usage[kid] += count
        stale = {k: v for k, v in usage.items() if k != ring.current_id.hex()}
        console.print(f"re-encrypted {n:,} rows and {rewritten:,} index files with key {ring.current_id.hex()}")
        if drop_old:
            if stale:
                err.print(f"[red]not dropping older keys: values still under {stale}[/]")
                raise typer.Exit(1)
            Keyring([ring.keys[0]]).save(settings.resolved_data_keys_file)
            console.print("older keys removed from the keyring")
    except FieldIDError as exc:
        fail(exc)
    finally:
        store.dispose()


@app.command("backup")
def backup_cmd(out: Annotated[Path, typer.Argument(help="Archive to write (.tar).")]) -> None:
    """Back up the database (SQLite, or PostgreSQL through pg_dump) and the FAISS index into one
    verified archive; a Milvus index is rebuilt from the database on restore. The data keyring
    is not included: keep it in your secret store."""
    from fieldid.backup import backup

    try:
        manifest = backup(state.settings, out)
    except FieldIDError as exc:
        fail(exc)
        return
    console.print(f"backed up {manifest['identities']:,} identities, {manifest['templates']:,} templates, "
                  f"{manifest['audit_events']:,} audit events (chain head {manifest['audit_head_hash'][:12]}) "
                  f"to {out}")


@app.command("restore")
def restore_cmd(
    archive: Annotated[Path, typer.Argument(help="Archive written by `fieldid backup`.")],
    force: Annotated[bool, typer.Option(help="Replace an existing database.")] = False,
) -> None:
    """Restore a backup into the configured database and data directory, verify checksums,
    reconcile the index and the audit chain."""
    from fieldid.backup import restore

    try:
        m = restore(state.settings, archive, force=force)
    except FieldIDError as exc:
        fail(exc)
        return
    r = m["restored"]
    console.print(f"restored {r['identities']:,} identities, {r['templates']:,} templates; audit chain intact "
                  f"({r['audit_events']:,} events, head {r['audit_head_hash'][:12]}); "
                  f"{m['index_repairs']} index repairs")


@app.command()
def doctor(repair: Annotated[bool, typer.Option(help="Fix what is found.")] = True) -> None:
    """Check index ↔ database consistency (orphan vectors, missing vectors) and the audit chain."""
    from fieldid.governance.audit import verify_chain
    from fieldid.service import FieldID
    from fieldid.storage.factory import make_index, open_store

    try:
        service = FieldID(state.settings, open_store(state.settings), make_index(state.settings))
    except FieldIDError as exc:
        fail(exc)
        return
    try:
        report = service.reconcile(repair=repair)
        table = Table("space", "templates in DB", "vectors in index", "missing", "orphans")
        for sp in report.spaces:
            table.add_row(sp.space, str(sp.db_templates), str(sp.index_vectors), str(sp.missing_in_index),
                          str(sp.orphans_in_index))
        console.print(table)
        with service.store.read() as s:
            chain = verify_chain(s)
        console.print(f"orphan vectors: {report.orphan_vectors}, missing vectors: {report.missing_vectors}"
                      + (" (repaired)" if repair and not report.consistent else ""))
        console.print(f"audit chain: {'intact' if chain.intact else 'BROKEN'} ({chain.events} events)")
        if (not report.consistent and not repair) or not chain.intact:
            raise typer.Exit(1)
    finally:
        service.close()


def _now() -> datetime:
    return datetime.now(UTC)


if __name__ == "__main__":  # pragma: no cover
    app()

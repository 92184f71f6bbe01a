"""Oversight commands: the audit log (verify, export), retention, the transparency report."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from fieldid.cli import render
from fieldid.cli.app import AsUser, audit_app, command, console, report_app, retention_app
from fieldid.clock import as_utc
from fieldid.governance.actor import SYSTEM

if TYPE_CHECKING:
    from fieldid.service import FieldID


@command(audit_app, "verify")
def audit_verify(fid: FieldID) -> None:
    """Check the audit log's hash chain; exit 1 and say where if any row was edited, removed or moved."""
    report = fid.oversight.chain_report()
    if report.intact:
        console.print(f"[green]audit chain intact[/]: {report.events:,} events, "
                      f"head {report.head_hash[:16]}… (seq {report.head_seq})")
        return
    console.print(f"[bold red]audit chain BROKEN[/] "
                  f"({len(report.breaks)} problems in {report.events:,} events)")
    for b in report.breaks[:50]:
        console.print(f"  seq {b.seq} {b.event_id}: {b.problem} — {b.detail}")
    raise typer.Exit(1)


@command(audit_app, "export")
def audit_export(
    fid: FieldID,
    out: Annotated[Path, typer.Option(help="JSON-lines file to write.")],
    as_user: AsUser = "auditor",
    case: Annotated[str | None, typer.Option(help="Only this case number.")] = None,
    user: Annotated[str | None, typer.Option(help="Only this user (username).")] = None,
    since: Annotated[datetime | None, typer.Option(help="From (UTC).")] = None,
    until: Annotated[datetime | None, typer.Option(help="Until (UTC).")] = None,
) -> None:
    """Export audit events (with their chain hashes) as JSON lines; the export is itself audited."""
    events = fid.oversight.export_audit(fid.actor_for(as_user), case_number=case, user=user,
                                        since=as_utc(since), until=as_utc(until))
    out.write_text("".join(json.dumps(e, default=str, sort_keys=True) + "\n" for e in events))
    console.print(f"{len(events)} events → {out}")


@command(retention_app, "run")
def retention_run(fid: FieldID) -> None:
    """Purge expired probe images, searches and audit events (as the local system admin); audited."""
    console.print_json(json.dumps(fid.retention.run_retention(SYSTEM).as_dict()))


@command(report_app, "transparency")
def report_transparency(
    fid: FieldID,
    since: Annotated[datetime, typer.Option(help="Period start (UTC).")],
    until: Annotated[datetime, typer.Option(help="Period end (UTC).")],
    agency: Annotated[str | None, typer.Option(help="One agency (default: all).")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Searches, candidates shown, confirmations, challenges and overturned results per agency."""
    rows = fid.oversight.transparency_report(SYSTEM, since=as_utc(since), until=as_utc(until), agency=agency)
    if as_json:
        sys.stdout.write(json.dumps(rows, default=str, indent=1) + "\n")
    else:
        console.print(render.transparency_table(rows,
                                                f"Transparency report {since:%Y-%m-%d} – {until:%Y-%m-%d}"))

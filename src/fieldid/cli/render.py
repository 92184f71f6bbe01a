"""How results look in a terminal: tables and lines built from the API's schemas (so that
``--json`` prints exactly the HTTP body) and from the services' reports."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:  # the schemas import the records stack: only commands that print them load it
    from fieldid.api.schemas import IdentifyResponse, SourceHealthOut, SourceOut, VerifyResponse


def print_body(body: BaseModel | Sequence[BaseModel]) -> None:
    """The JSON body the HTTP API would answer, on stdout."""
    if isinstance(body, BaseModel):
        sys.stdout.write(body.model_dump_json(indent=2) + "\n")
    else:
        import json

        sys.stdout.write(json.dumps([b.model_dump(mode="json") for b in body], indent=2) + "\n")


def identify_result(body: IdentifyResponse) -> RenderableType:
    op = body.operating_point
    lines: list[RenderableType] = [Text.from_markup(
        f"[bold]search {body.search_id}[/]  outcome: [bold]{body.outcome}[/]  "
        f"gallery size {body.gallery_size:,}  threshold {op.threshold:.3f} "
        f"(FPIR target {op.fpir_target:.2%})")]
    if body.demo:
        lines.append(Text.from_markup("[black on yellow] DEMO DATA [/]"))
    issues = ": " + ", ".join(i.code for i in body.quality.issues) if body.quality.issues else ""
    lines.append(Text(f"probe quality {body.quality.score:.0f}/100{issues}"))
    if body.candidates:
        table = Table("rank", "pseudonym", "name", "score", "FMR", "expected false candidates", "strength",
                      "tier")
        for c in body.candidates:
            table.add_row(str(c.rank), c.pseudonym, c.display_name or "—", f"{c.score:.3f}", f"{c.fmr:.1e}",
                          f"{c.expected_false_candidates:.2g}", c.strength, c.tier)
        lines.append(table)
        for c in body.candidates:
            for r in c.records:
                shown = ", ".join(f"{k}={v}" for k, v in sorted(r.fields.items()))
                lines.append(Text.from_markup(
                    f"  {c.pseudonym}: [bold]{r.source}[/] {r.record_type} {r.record_id}"
                    + (" [black on yellow] DEMO [/]" if r.demo else "")
                    + (f" (updated {r.updated_at:%Y-%m-%d})" if r.updated_at else "") + f"  {shown}"))
    for st in body.record_sources:
        if st.status != "ok":
            lines.append(Text.from_markup(f"record source {st.source}: [yellow]{st.status}[/] {st.message}"))
    lines.extend(Text(f"• {reason}") for reason in body.reasons)
    return Group(*lines)


def verify_result(body: VerifyResponse) -> RenderableType:
    return Group(Text.from_markup(f"[bold]{body.assessment}[/] score {body.score:.3f}, FMR {body.fmr:.1e} "
                                  f"(threshold {body.threshold:.3f} at FMR {body.threshold_fmr:g})"),
                 Text(body.explanation))


def sources_table(views: Iterable[SourceOut]) -> Table:
    table = Table("name", "title", "connector", "kind", "access", "federated only", "circuit")
    for v in views:
        table.add_row(v.name, v.title, v.connector, v.kind + (" (DEMO)" if v.demo else ""), v.access,
                      "yes" if v.federated_only else "no", v.circuit)
    return table


def health_table(checks: Iterable[SourceHealthOut]) -> Table:
    table = Table("source", "status", "latency ms", "circuit", "message")
    for h in checks:
        colour = "green" if h.status == "ok" else "red"
        table.add_row(h.source, f"[{colour}]{h.status}[/]",
                      "—" if h.latency_ms is None else f"{h.latency_ms:.0f}",
                      h.circuit, h.message)
    return table


TRANSPARENCY_COLUMNS = {
    "searches": "searches", "outcome_candidates": "with candidates", "outcome_no_candidate": "no candidate",
    "outcome_under_quality": "under quality", "candidates_shown": "candidates shown",
    "federated_searches": "federated", "confirmations": "confirmed", "challenges_filed": "challenges",
    "challenges_upheld": "upheld", "challenges_dismissed": "dismissed", "overturned_results": "overturned",
}


def transparency_table(rows: Iterable[dict[str, Any]], title: str) -> Table:
    table = Table("agency", *TRANSPARENCY_COLUMNS.values(), title=title)
    for r in rows:
        table.add_row(r["agency_id"], *(str(r[k]) for k in TRANSPARENCY_COLUMNS))
    return table


def calibration_summary(cal: Any, report: dict[str, Any], out: Any, extra: str,
                        levels: tuple[float, ...]) -> RenderableType:
    """A new calibration table's thresholds and its held-out check."""
    parts: list[RenderableType] = [Text(
        f"calibration {cal.version} for {cal.model_id} on {cal.dataset}: {cal.genuine_pairs:,} genuine and "
        f"{cal.impostor_pairs:,} impostor pairs{extra} → {out}")]
    table = Table("FMR", "threshold", "FNMR")
    for level in levels:
        t = cal.threshold_at_fmr(level)
        table.add_row(f"{level:g}", f"{t:.4f}", f"{cal.fnmr(t):.4f}")
    parts.append(table)
    if report.get("calibration"):
        check = Table("predicted FMR", "observed FMR (held out)", "false matches", "impostor pairs")
        for row in report["calibration"]:
            check.add_row(f"{row['predicted_fmr']:g}", f"{row['observed_fmr']:.2e}",
                          str(row["false_matches"]),
                          f"{row['impostor_pairs']:,}")
        parts.append(check)
    return Group(*parts)

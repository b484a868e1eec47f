"""`strangler sync reconcile`: compare the monolith's rows with the service's, print the drift,
optionally repair it, and record the run in the service (``last_reconciliation`` in its sync
stats).

Exit status: 0 when the tables are equal (or a repair made them equal), 3 when drift remains,
1 when something could not be done (an endpoint down), 2 for a bad option (usage).
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, NoReturn

import httpx
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from contracts.reconcile import ReconciliationReport
from sync.reconcile import DEFAULT_LEAF_ROWS, DEFAULT_PARTS, reconcile
from sync.reconcile_http import MonolithSide, ServiceSide
from sync.settings import SyncSettings
from sync.stats import StatsUnavailable

out = Console(highlight=False)

DRIFT_EXIT = 3
#: Drifted rows listed in the table (all of them go into --json).
SHOWN = 20


class Capability(StrEnum):
    inventory = "inventory"


def _fail(message: str) -> NoReturn:
    typer.echo(f"strangler sync reconcile: {' '.join(message.split())}", err=True)
    raise typer.Exit(1)


def _print(report: ReconciliationReport) -> None:
    seconds = (report.finished_at - report.started_at).total_seconds()
    out.print(
        f"{report.aggregate}: monolith {report.source_rows} rows, service {report.target_rows} "
        f"rows, {report.requests} checksum requests, {seconds:.2f} s"
    )
    if report.clean:
        out.print(f"{report.aggregate}: no drift")
        return
    table = Table(title=f"Drift in {report.aggregate}")
    for column in ("key", "drift", "fields / versions"):
        table.add_column(column)
    rows = [(key, "missing in the service", "-") for key in report.missing]
    rows += [
        (row.key, "extra in the service", f"service version {row.target_version}")
        for row in report.extra
    ]
    rows += [
        (
            d.key,
            "different",
            f"{', '.join(d.fields)} (monolith v{d.source_version}, service v{d.target_version})",
        )
        for d in report.different
    ]
    for row in sorted(rows)[:SHOWN]:
        table.add_row(*row)
    out.print(table)
    out.print(
        f"{report.aggregate}: {len(report.missing)} missing, {len(report.extra)} extra, "
        f"{len(report.different)} different"
        + (f" ({len(rows) - SHOWN} more with --json)" if len(rows) > SHOWN else "")
    )
    if report.repair is not None:
        r = report.repair
        out.print(
            f"repair: {r.written} written, {r.deleted} deleted, {r.skipped} left alone (moved on "
            f"since); after the repair: {'no drift' if report.clean_after_repair else 'DRIFT'}"
        )


def reconcile_command(
    capability: Annotated[
        Capability, typer.Option(help="Which capability's rows to compare (products so far).")
    ] = Capability.inventory,
    repair: Annotated[
        bool,
        typer.Option("--repair", help="Send the monolith's current state of drifted rows."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    parts: Annotated[int, typer.Option(min=2, max=1024, help="Runs per split.")] = DEFAULT_PARTS,
    leaf_rows: Annotated[
        int, typer.Option(min=1, max=5000, help="Compare row by row below this many rows.")
    ] = DEFAULT_LEAF_ROWS,
) -> None:
    """Compare the monolith's rows with the service's by range checksums; report the drift."""
    try:
        settings = SyncSettings()
    except ValidationError as exc:
        problem = exc.errors()[0]
        _fail(f"bad setting {'.'.join(map(str, problem['loc']))}: {problem['msg']}")
    with httpx.Client() as client:
        source = MonolithSide(settings.monolith_url, client)
        target = ServiceSide(settings.inventory_url, client)
        try:
            report = reconcile(
                source, target, repair_drift=repair, parts=parts, leaf_rows=leaf_rows
            )
            target.record(report)
        except StatsUnavailable as exc:
            _fail(str(exc))
    if as_json:
        typer.echo(
            json.dumps(
                {**report.model_dump(mode="json"), "clean": report.clean, "drift": report.drift},
                indent=2,
            )
        )
    else:
        _print(report)
    remains = not report.clean and not report.clean_after_repair
    if remains:
        raise typer.Exit(DRIFT_EXIT)

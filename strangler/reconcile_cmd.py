"""`strangler sync reconcile`: compare the monolith's rows of an aggregate with its owner's, print
the drift, optionally repair it, and record the run in the owner (``last_reconciliation`` and
``reconciliations`` in its sync stats). Every endpoint it calls needs the sync token
(``STRANGLER_SYNC_TOKEN``, else ``$STRANGLER_VAR_DIR/sync-token``; ``sync.control.internal_auth``).

``--aggregate`` is one of protocol.reconcile_spec.SPECS (products, reservations, payments,
orders) or ``all`` (each in turn, every owner must answer); products by default: the tour's
drift is a product, and a default that reads every service would fail wherever one of them is
not running or not backfilled yet.

Exit status: 0 when the tables are equal (or a repair made them equal), 3 when drift remains in
any aggregate, 1 when something could not be done (an endpoint down, no sync token, an unknown
aggregate), 2 for a bad option (usage).
"""

from __future__ import annotations

import json
from typing import Annotated, NoReturn

import httpx
import typer
from pydantic import ValidationError
from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from contracts.reconcile import ReconciliationReport
from protocol.reconcile_spec import SPECS
from strangler.console import progress, stdout_console
from sync.control.reconcile import DEFAULT_LEAF_ROWS, DEFAULT_PARTS, reconcile
from sync.control.reconcile_http import MonolithSide, ServiceSide
from sync.control.stats import StatsUnavailable
from sync.settings import SyncSettings

out = stdout_console()

DRIFT_EXIT = 3
#: Drifted rows listed in the table (all of them go into --json).
SHOWN = 20
ALL = "all"


def _fail(message: str) -> NoReturn:
    typer.echo(f"strangler sync reconcile: {' '.join(message.split())}", err=True)
    raise typer.Exit(1)


def _aggregates(chosen: str) -> list[str]:
    """The aggregates ``--aggregate`` names (checked here rather than by typer, whose refusal
    is a multi-line panel)."""
    if chosen == ALL:
        return list(SPECS)
    if chosen not in SPECS:
        _fail(f"unknown aggregate {chosen!r}: choose one of {', '.join([*SPECS, ALL])}")
    return [chosen]


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


def _drift_remains(report: ReconciliationReport) -> bool:
    return not report.clean and not report.clean_after_repair


def _as_json(report: ReconciliationReport) -> dict[str, object]:
    return {**report.model_dump(mode="json"), "clean": report.clean, "drift": report.drift}


def reconcile_command(
    aggregate: Annotated[
        str,
        typer.Option(
            "--aggregate",
            "-a",
            help=f"Which aggregate to compare: {', '.join(SPECS)}, or {ALL} (each in turn).",
        ),
    ] = "products",
    repair: Annotated[
        bool,
        typer.Option("--repair", help="Send the monolith's current state of drifted rows."),
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help=f"Print the report as JSON (with --aggregate {ALL}: reports by aggregate).",
        ),
    ] = False,
    parts: Annotated[int, typer.Option(min=2, max=1024, help="Runs per split.")] = DEFAULT_PARTS,
    leaf_rows: Annotated[
        int, typer.Option(min=1, max=5000, help="Compare row by row below this many rows.")
    ] = DEFAULT_LEAF_ROWS,
) -> None:
    """Compare the monolith's rows with their owner's by range checksums; report the drift."""
    names = _aggregates(aggregate)
    try:
        settings = SyncSettings()
    except ValidationError as exc:
        problem = exc.errors()[0]
        _fail(f"bad setting {'.'.join(map(str, problem['loc']))}: {problem['msg']}")
    reports: list[ReconciliationReport] = []
    # A spinner on a terminal's stderr while each aggregate's checksums run: the driver cannot
    # tell in advance how many ranges it will bisect, so no total.
    indicator = progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with httpx.Client() as client, indicator:
        for name in names:
            owner = settings.service_url(SPECS[name].capability)
            task = indicator.add_task(f"reconciling {name}", total=None)
            try:
                source = MonolithSide(settings.monolith_url, client, name)
                target = ServiceSide(owner, client, name)
                report = reconcile(
                    source,
                    target,
                    repair_drift=repair,
                    aggregate=name,
                    parts=parts,
                    leaf_rows=leaf_rows,
                )
                target.record(report)
            except StatsUnavailable as exc:
                indicator.stop()
                _fail(str(exc))
            indicator.update(task, visible=False)
            reports.append(report)
            if not as_json:
                _print(report)
    if as_json:
        body: object = (
            _as_json(reports[0])
            if aggregate != ALL
            else {
                "reports": {r.aggregate: _as_json(r) for r in reports},
                "drift_remains": any(_drift_remains(r) for r in reports),
            }
        )
        typer.echo(json.dumps(body, indent=2))
    if any(_drift_remains(r) for r in reports):
        raise typer.Exit(DRIFT_EXIT)

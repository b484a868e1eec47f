"""`strangler sync`: start or resume backfills, kick the outbox relay, show backlog and lag.

Thin over ``sync/``: where things stand comes from the internal stats endpoints of the monolith
and of each capability's owner (``STRANGLER_MONOLITH_URL``, ``STRANGLER_INVENTORY_URL``,
``STRANGLER_PAYMENTS_URL``, ``STRANGLER_ORDERS_URL``); work is started by sending tasks by
name to the broker the workers use (``CELERY_BROKER_URL``, else the embedded filesystem broker
under ``$STRANGLER_VAR_DIR``).
"""

from __future__ import annotations

import contextlib
import json
import time
from enum import StrEnum
from typing import Annotated, NoReturn

import httpx
import typer
from celery import Celery
from kombu.exceptions import KombuError
from pydantic import ValidationError
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from contracts.events import Capability
from contracts.reconcile import ChecksumsRequest
from strangler.console import progress, stdout_console
from strangler.lazy_commands import LazyGroup
from sync.celery_app import BrokerSettingsError, make_celery
from sync.control.backfill import (
    DEFAULT_PARALLEL,
    MAX_PAGE_SIZE,
    MAX_PARALLEL,
    BackfillStart,
    jobs_named,
    owners_of,
    start_backfills,
)
from sync.control.direction import DirectionPicture, Owners, SwitchError, direction_picture
from sync.control.lag import SyncPicture, sync_picture
from sync.control.reconcile_http import MonolithSide
from sync.control.stats import StatsUnavailable, SyncStats, fetch_product_count, fetch_sync_stats
from sync.settings import SyncSettings
from sync.task_names import RELAY_OUTBOX


class SyncVerbs(LazyGroup):
    # Each in its own module, imported only when it runs: `sync backfill` and `sync status` need
    # neither the proxy's route files (switch) nor the reconciliation driver.
    lazy_commands = {
        "reconcile": "strangler.reconcile_cmd:reconcile_command",
        "switch": "strangler.switch_cmd:switch_command",
        "dead-letters": "strangler.dead_letters_cmd:app",
    }


app = typer.Typer(
    help="Backfill the services, kick the outbox relay, show backlog and lag.",
    cls=SyncVerbs,
    no_args_is_help=True,
)
out = stdout_console()

POLL_S = 0.5


class Wire(StrEnum):
    copy = "copy"
    json = "json"


class Aggregate(StrEnum):
    """A backfill job (sync.backfill_jobs.JOBS), or every job of every capability."""

    products = "products"
    reservations = "reservations"
    payments = "payments"
    orders = "orders"
    all = "all"


def _fail(message: str) -> NoReturn:
    typer.echo(f"strangler sync: {' '.join(message.split())}", err=True)
    raise typer.Exit(1)


def _settings() -> SyncSettings:
    try:
        return SyncSettings()
    except ValidationError as exc:
        problem = exc.errors()[0]
        _fail(f"bad setting {'.'.join(map(str, problem['loc']))}: {problem['msg']}")


def _sender() -> Celery:
    try:
        return make_celery("strangler-cli")
    except BrokerSettingsError as exc:
        _fail(str(exc))


def _broker_text(settings: SyncSettings) -> str:
    return settings.broker_url or f"filesystem://{settings.broker_dir}"


def _describe(start: BackfillStart, page_size: int, parallel: int) -> str:
    name = start.job.name
    before = start.before
    chains = f", up to {parallel} ranges side by side" if parallel > 1 and start.job.splits else ""
    if start.action == "started":
        return f"{name}: started from the beginning (pages of {page_size}{chains})"
    if start.action == "restarted":
        return f"{name}: restarted from the beginning (pages of {page_size}{chains})"
    assert before is not None
    if start.action == "resumed" and start.ranges:
        lines = [f"{name}: resumed {len(start.ranges)} range(s) ({before.rows} rows so far)"]
        lines += [f"  {part.job}: resumed after {part.last_key!r}" for part in start.ranges]
        return "\n".join(lines)
    if start.action == "resumed":
        return f"{name}: resumed after {before.last_key!r} ({before.rows} rows so far)"
    return f"{name}: already done ({before.rows} rows); --restart copies it again"


@app.command()
def backfill(
    aggregate: Annotated[
        Aggregate,
        typer.Option(
            "--aggregate",
            "-a",
            help=(
                "Which job to run: products, reservations (inventory), payments, orders, or all"
                " (every job of every capability)."
            ),
        ),
    ] = Aggregate.all,
    page_size: Annotated[
        int,
        typer.Option(
            min=1,
            max=MAX_PAGE_SIZE,
            help="Rows per keyset page (bigger pages are faster; bench/backfill_copy.py).",
        ),
    ] = MAX_PAGE_SIZE,
    restart: Annotated[
        bool, typer.Option("--restart", help="Start over instead of resuming the checkpoint.")
    ] = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="Show progress until the checkpoint says done.")
    ] = False,
    timeout: Annotated[
        float, typer.Option(min=0.1, help="With --wait: give up (exit 1) after this many seconds.")
    ] = 600.0,
    throttle: Annotated[
        float | None,
        typer.Option(
            min=0.001, help="At most this many rows per second (default: as fast as it goes)."
        ),
    ] = None,
    wire: Annotated[
        Wire,
        typer.Option(
            help=(
                "How pages travel: copy (COPY text, the bulk path: products, payments, orders;"
                " reservations travel as json) or json (state dicts)."
            )
        ),
    ] = Wire.copy,
    parallel: Annotated[
        int,
        typer.Option(
            help=(
                f"Split a job that starts (or restarts) into this many key ranges, copied side"
                f" by side, 1 to {MAX_PARALLEL}; a resume keeps the job's ranges."
            ),
        ),
    ] = DEFAULT_PARALLEL,
) -> None:
    """Copy the monolith's rows into their owners' services in keyset pages, resuming each
    job's checkpoint (kept by the service that owns the job: STRANGLER_INVENTORY_URL,
    STRANGLER_PAYMENTS_URL, STRANGLER_ORDERS_URL)."""
    if not 1 <= parallel <= MAX_PARALLEL:
        # Checked here rather than by typer, whose refusal is a multi-line panel.
        _fail(f"--parallel must be between 1 and {MAX_PARALLEL}, got {parallel}")
    settings = _settings()
    jobs = jobs_named(aggregate.value)
    try:
        stats = _owners_stats(owners_of(jobs), settings)
        starts = start_backfills(
            jobs,
            stats,
            _sender(),
            page_size=page_size,
            restart=restart,
            wire=wire.value,
            rows_per_s=throttle,
            parallel=parallel,
        )
    except StatsUnavailable as exc:
        _fail(str(exc))
    except (KombuError, OSError) as exc:
        _fail(f"the broker at {_broker_text(settings)} refused the backfill: {exc}")
    for start in starts:
        out.print(_describe(start, page_size, parallel))
    if wait:
        _follow(starts, settings, timeout)


def _owners_stats(owners: list[Capability], settings: SyncSettings) -> dict[Capability, SyncStats]:
    """Each owner's sync stats (where its jobs' checkpoints stand), read from its service."""
    return {
        owner: fetch_sync_stats(settings.service_url(owner), capability=owner) for owner in owners
    }


class RowsPerSecondColumn(ProgressColumn):
    """Rows copied per second (rich's speed over its recent samples)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("- rows/s" if speed is None else f"{speed:,.0f} rows/s")


def _total(job: str, settings: SyncSettings) -> int | None:
    """Rows the job will copy, as the monolith counts them; None when it cannot say. Products
    come from the public list; the other aggregates from the monolith's whole-range checksum
    (``/internal/reconcile``, with the sync token), which counts the rows it covers."""
    with contextlib.suppress(StatsUnavailable):
        if job == "products":
            return fetch_product_count(settings.monolith_url)
        with httpx.Client() as client:
            whole = MonolithSide(settings.monolith_url, client, job).checksums(ChecksumsRequest())
        return sum(part.count for part in whole.ranges)
    return None


def _follow(starts: list[BackfillStart], settings: SyncSettings, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last_problem = ""
    stats: dict[Capability, SyncStats] | None = None
    owners = owners_of([start.job for start in starts])
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RowsPerSecondColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    # A live bar for people at a terminal; logs and pipes get only the summary lines.
    with progress(*columns) as bar:
        # Counting the rows costs the monolith a pass over them: only for a bar someone sees.
        totals = {s.job.name: None if bar.disable else _total(s.job.name, settings) for s in starts}
        bars = {s.job.name: bar.add_task(s.job.name, total=totals[s.job.name]) for s in starts}
        while True:
            try:
                stats = _owners_stats(owners, settings)
                last_problem = ""
            except StatsUnavailable as exc:
                last_problem = str(exc)
            if stats is not None:
                for start in starts:
                    owner = stats[start.job.capability]
                    rows = start.rows_done(owner)
                    total = totals[start.job.name]
                    if start.finished_in(owner):
                        total = rows if total is None else max(total, rows)
                    bar.update(bars[start.job.name], completed=rows, total=total)
                if all(s.finished_in(stats[s.job.capability]) for s in starts):
                    break
            if time.monotonic() >= deadline:
                bar.stop()
                waiting = [
                    s for s in starts if stats is None or not s.finished_in(stats[s.job.capability])
                ]
                where = ", ".join(_position(s, stats) for s in waiting)
                _fail(
                    f"backfill not done after {timeout:g} s: {where}"
                    + (f" (last error: {last_problem})" if last_problem else "")
                )
            time.sleep(POLL_S)
    assert stats is not None
    for start in starts:
        state = stats[start.job.capability].backfill(start.job.name)
        out.print(f"{start.job.name}: done, {state.rows if state else 0} rows in the checkpoint")


def _position(start: BackfillStart, stats: dict[Capability, SyncStats] | None) -> str:
    state = stats[start.job.capability].backfill(start.job.name) if stats else None
    if state is None:
        return f"{start.job.name} not started"
    return f"{start.job.name} at {state.last_key!r} ({state.rows} rows)"


@app.command()
def relay() -> None:
    """Kick the outbox relay once (the relay process wakes on every outbox commit anyway)."""
    settings = _settings()
    try:
        _sender().send_task(RELAY_OUTBOX)
    except (KombuError, OSError) as exc:
        _fail(f"the broker at {_broker_text(settings)} refused the relay kick: {exc}")
    out.print("relay kicked: the monolith worker publishes the pending outbox events")


def _age(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.3f} s"


class CapabilityChoice(StrEnum):
    inventory = "inventory"
    payments = "payments"
    orders = "orders"
    all = "all"

    def capabilities(self) -> list[Capability]:
        every: list[Capability] = ["inventory", "payments", "orders"]
        return every if self is CapabilityChoice.all else [c for c in every if c == self.value]


def _direction_table(pictures: list[DirectionPicture]) -> Table:
    """Who takes each capability's writes, and the reverse flow (service -> monolith)."""
    table = Table(title="Direction (reverse sync: docs/reverse-sync.md)")
    for column in ("capability", "monolith", "service", "reverse backlog", "oldest pending"):
        table.add_column(column)
    table.add_column("monolith dead letters")
    for picture in pictures:
        table.add_row(
            picture.capability,
            picture.monolith,
            picture.service,
            str(picture.reverse_pending),
            _age(picture.reverse_oldest_pending_age_s),
            str(picture.monolith_dead_letters),
        )
    return table


def _picture_dict(picture: SyncPicture) -> dict[str, object]:
    return {
        "outbox": picture.outbox.model_dump(mode="json"),
        "sync": picture.sync.model_dump(mode="json"),
        "backlog": picture.backlog,
        "in_flight": picture.in_flight,
        "caught_up": picture.caught_up,
    }


def _flow_table(capability: Capability, picture: SyncPicture) -> Table:
    flow = Table(title=f"Outbox -> {capability} service", show_header=False)
    flow.add_column("what")
    flow.add_column("value", justify="right")
    flow.add_row("pending in the outbox (backlog)", str(picture.backlog))
    flow.add_row("oldest pending age", _age(picture.oldest_pending_age_s))
    flow.add_row("published by the relay", str(picture.published))
    flow.add_row("in flight (published, not yet processed)", str(picture.in_flight))
    flow.add_row("processed by the service", str(picture.sync.events_processed))
    flow.add_row("  applied", str(picture.sync.events_applied))
    flow.add_row("  skipped (stale: the row was as new)", str(picture.sync.events_skipped))
    flow.add_row("last commit-to-applied lag", _age(picture.last_lag_s))
    flow.add_row("dead letters (strangler sync dead-letters list)", str(picture.sync.dead_letters))
    return flow


@app.command()
def status(
    capability: Annotated[
        CapabilityChoice,
        typer.Option("--capability", "-c", help="Which capability's sync to show."),
    ] = CapabilityChoice.all,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON (one object per capability) instead.")
    ] = False,
) -> None:
    """Backlog, oldest pending age, events applied/skipped, lag, dead letters, last
    reconciliation per capability, backfill checkpoints. Each owner is read over HTTP
    (STRANGLER_INVENTORY_URL, STRANGLER_PAYMENTS_URL, STRANGLER_ORDERS_URL)."""
    settings = _settings()
    pictures: dict[Capability, SyncPicture] = {}
    # Each capability's direction and reverse flow (docs/reverse-sync.md).
    directions: dict[Capability, DirectionPicture] = {}
    try:
        for name in capability.capabilities():
            pictures[name] = sync_picture(
                settings.monolith_url, settings.service_url(name), capability=name
            )
            directions[name] = direction_picture(
                Owners(name, settings.monolith_url, settings.service_url(name))
            )
    except (StatsUnavailable, SwitchError) as exc:
        _fail(str(exc))
    if as_json:
        data = {k: _picture_dict(p) for k, p in pictures.items()}
        for name, direction in directions.items():
            data[name]["direction"] = direction.as_json()
        typer.echo(json.dumps(data, indent=2))
        return
    for name, picture in pictures.items():
        out.print(_flow_table(name, picture))
    per = Table(title="Per capability")
    for column in ("capability", "backlog", "oldest pending", "lag", "dead letters"):
        per.add_column(column)
    per.add_column("last reconciliation")
    for name, picture in pictures.items():
        last = picture.sync.last_reconciliation
        reconciled = list(picture.sync.reconciliations.values()) or ([last] if last else [])
        per.add_row(
            name,
            str(picture.backlog),
            _age(picture.oldest_pending_age_s),
            _age(picture.last_lag_s),
            str(picture.sync.dead_letters),
            "\n".join(run.describe() for run in reconciled) or "never",
        )
    out.print(per)
    if directions:
        out.print(_direction_table(list(directions.values())))
    jobs = Table(title="Backfills")
    for column in ("capability", "job", "last key", "rows", "done", "updated at"):
        jobs.add_column(column)
    states = [
        (name, state) for name, picture in pictures.items() for state in picture.sync.backfills
    ]
    for name, state in states:
        jobs.add_row(
            name,
            state.job,
            f"{state.ranges} ranges"
            if state.ranges
            else ("-" if state.last_key is None else state.last_key),
            str(state.rows),
            "yes" if state.done else "no",
            state.updated_at.isoformat(),
        )
    if not states:
        jobs.add_row("-", "-", "-", "0", "-", "never ran")
    out.print(jobs)

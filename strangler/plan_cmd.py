"""`strangler plan`: walk the migration plan (migrations_plan/plan.yaml) step by step.

Thin over :mod:`migrations_plan.walker`. Exit codes: 0 done, 1 refused (a gate fails, a plan or
state file is unusable, the route file refuses the change) with one line on stderr for errors.
"""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from migrations_plan.gates import Endpoints, GateResult
from migrations_plan.model import PlanError, page_text
from migrations_plan.report import build_report, render_html, render_markdown
from migrations_plan.settings import WalkerSettings
from migrations_plan.walker import FlagDrift, OnDrift, Outcome, Status, Walker
from proxy.atomic_file import write_atomically
from strangler.console import stdout_console

app = typer.Typer(
    help="Walk the migration plan: status, show, next, verify, rollback, reset, report.",
    no_args_is_help=True,
)

PlanOption = Annotated[
    Path | None,
    typer.Option("--plan", help="Plan file (default: STRANGLER_PLAN_FILE or the built-in plan)."),
]


#: Widest a step's page is laid out (prose; a pipe gets the same lines as a wide terminal).
PAGE_WIDTH = 100


def _console() -> Console:
    # Markup on: the plan's output styles its states; every piece of data goes through escape().
    return stdout_console(markup=True)


def _walker(plan: Path | None) -> Walker:
    settings = WalkerSettings()
    if plan is not None:
        settings = settings.model_copy(update={"plan_file": plan})
    return Walker(settings)


def _actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"plan:{user}"


def _fail(err: Exception) -> typer.Exit:
    typer.echo(f"strangler plan: {' '.join(str(err).split())}", err=True)
    return typer.Exit(1)


def _gate_table(gates: list[GateResult]) -> Table:
    table = Table(show_header=True, header_style="bold")
    table.add_column("gate")
    table.add_column("result")
    table.add_column("observed")
    table.add_column("needs")
    for gate in gates:
        verdict = "[green]pass[/green]" if gate.passed else "[red]FAIL[/red]"
        observed = gate.observed + (f" — {gate.reason}" if gate.reason else "")
        table.add_row(escape(gate.gate), verdict, escape(observed), escape(gate.threshold))
    return table


@app.command()
def status(
    plan: PlanOption = None,
    gates: Annotated[bool, typer.Option(help="Evaluate the current step's gates.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """The steps, the current one, and its gates evaluated now."""
    console = _console()
    try:
        walker = _walker(plan)
        result = walker.status(check_gates=gates)
    except PlanError as err:
        raise _fail(err) from err
    if as_json:
        typer.echo(json.dumps(_status_json(result), indent=2, ensure_ascii=False))
        return
    console.print(f"[bold]{escape(result.plan.title)}[/bold] ({escape(result.plan.name)})")
    console.print(_where(result))
    table = Table()
    table.add_column("#", justify="right")
    table.add_column("phase")
    table.add_column("step")
    table.add_column("title")
    table.add_column("state")
    table.add_column("started (UTC)")
    for view in result.steps:
        state = {"done": "[green]done[/green]", "current": "[bold cyan]▶ current[/bold cyan]"}.get(
            view.status, "[dim]pending[/dim]"
        )
        started = view.record.started_at.strftime("%Y-%m-%d %H:%M:%S") if view.record else ""
        title = escape(view.step.title)
        if view.step.irreversible:
            title = f"[bold red]IRREVERSIBLE[/bold red] {title}"
        table.add_row(
            str(view.number), escape(view.step.phase), escape(view.step.id), title, state, started
        )
    console.print(table)
    _print_drift(console, result.drift)
    if result.current is None:
        console.print("The walk has not started. [bold]strangler plan next[/bold] takes step 1.")
    else:
        step = result.current.step
        console.print(f"\nCurrent step {result.current.number}: [bold]{escape(step.title)}[/bold]")
        for line in step.instructions:
            console.print(f"  $ {escape(line)}")
        if result.gates:
            console.print(_gate_table(result.gates))
            if all(g.passed for g in result.gates) and result.next_step is not None:
                console.print("All gates pass: [bold]strangler plan next[/bold] may move on.")
    if result.next_step is not None:
        console.print(f"\nNext: [bold]{escape(result.next_step.title)}[/bold]")
        for action in result.next_step.actions:
            console.print(f"  sets {escape(action.describe())}")
        if result.next_step.irreversible:
            console.print("  [bold red]cannot be undone[/bold red] (needs [bold]--confirm[/bold]):")
            for line in result.next_step.cannot_undo:
                console.print(f"    {escape(line)}")
    elif result.current is not None:
        console.print("\nThis is the last step of the plan.")


def _status_json(result: Status) -> dict[str, Any]:
    """`plan status --json`: what the tables show, as data."""
    current = result.current
    following = result.next_step
    return {
        "plan": {"name": result.plan.name, "title": result.plan.title},
        "current": None if current is None else {"number": current.number, "id": current.step.id},
        "steps": [
            {
                "number": view.number,
                "phase": view.step.phase,
                "id": view.step.id,
                "title": view.step.title,
                "irreversible": view.step.irreversible,
                "state": view.status,
                "started_at": view.record.started_at.isoformat() if view.record else None,
            }
            for view in result.steps
        ],
        "gates": [gate.as_dict() for gate in result.gates],
        "drift": [
            {
                "route": item.route,
                "key": item.key,
                "expected": item.expected,
                "actual": item.actual,
                "missing": item.missing,
            }
            for item in result.drift
        ],
        "next": None
        if following is None
        else {
            "id": following.id,
            "title": following.title,
            "sets": [action.describe() for action in following.actions],
            "irreversible": following.irreversible,
            "cannot_undo": list(following.cannot_undo),
        },
    }


def _where(result: Status) -> str:
    """One line: the phase and the step the walk stands at, in the whole plan."""
    phases = result.plan.phases()
    total = len(result.plan.steps)
    if result.current is None:
        return f"Not started: {total} steps in {len(phases)} phases ({escape(', '.join(phases))})."
    step = result.current.step
    in_phase = [s for s in result.plan.steps if s.phase == step.phase]
    return (
        f"Phase [bold]{escape(step.phase)}[/bold] ({phases.index(step.phase) + 1} of "
        f"{len(phases)}), step {in_phase.index(step) + 1} of {len(in_phase)} in the phase; "
        f"step [bold]{result.current.number} of {total}[/bold] in the whole plan."
    )


@app.command()
def show(
    step: Annotated[
        str | None, typer.Argument(help="Step id or number (default: current).")
    ] = None,
    plan: PlanOption = None,
) -> None:
    """Print a step's workshop page."""
    try:
        walker = _walker(plan)
        if step is None:
            current = walker.state().current
            chosen = walker.plan.find(current) if current else walker.plan.steps[0]
        else:
            chosen = walker.plan.find(step)
        text = page_text(walker.settings.plan_file, chosen)
    except PlanError as err:
        raise _fail(err) from err
    console = _console()
    from rich.markdown import Markdown  # markdown-it: `plan show` only

    console.print(Markdown(text), width=min(console.width, PAGE_WIDTH))


def _print_drift(console: Console, drift: list[FlagDrift]) -> None:
    if not drift:
        return
    console.print("[red]The route table differs from the flags the walk set:[/red]")
    for item in drift:
        console.print(f"  {escape(item.describe())}")
    console.print(
        "[bold]strangler plan next --adopt[/bold] keeps the table as it is, "
        "[bold]--overwrite[/bold] writes the walk's flags back."
    )


#: What each direction a switch leaves a capability in means, for the line it prints.
SWITCHED = {
    "reverse": "the service takes its writes; reverse sync keeps the monolith's copy warm",
    "forward": "the monolith takes its writes again; sync feeds the service",
    "retired": "retired: the service alone, the monolith's tables read-only for good",
}


def _print_outcome(console: Console, outcome: Outcome) -> None:
    if outcome.gates:
        console.print(_gate_table(outcome.gates))
    for switch in outcome.switches:
        console.print(f"  {escape(switch.sync)}: {SWITCHED[switch.direction]}")
    for change in outcome.changes:
        if change.changed:
            flags = ", ".join(
                f"{key} {change.before[key]!r} → {change.after[key]!r}" for key in change.after
            )
            console.print(f"  {escape(change.route)}: {escape(flags)}")


@app.command(name="next")
def next_step(
    plan: PlanOption = None,
    adopt: Annotated[
        bool,
        typer.Option(
            "--adopt", help="The route table differs from the walk's flags: keep it as it is."
        ),
    ] = False,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="The route table differs from the walk's flags: write the walk's back.",
        ),
    ] = False,
    confirm: Annotated[
        bool,
        typer.Option(
            "--confirm", help="Take the next step even though it cannot be undone (cut the cord)."
        ),
    ] = False,
) -> None:
    """Check the current step's gates; all pass → apply the next step's flags."""
    console = _console()
    if adopt and overwrite:
        raise _fail(PlanError("--adopt and --overwrite exclude each other: choose one"))
    on_drift: OnDrift = "adopt" if adopt else "overwrite" if overwrite else "refuse"
    try:
        walker = _walker(plan)
        outcome = walker.next(actor=_actor(), on_drift=on_drift, confirm=confirm)
    except PlanError as err:
        raise _fail(err) from err
    if not outcome.moved and outcome.drift:
        _print_drift(console, outcome.drift)
        raise _fail(PlanError(outcome.message))
    if not outcome.moved:
        if outcome.failed_gates:
            console.print(f"[red]Not moving:[/red] {escape(outcome.message)}")
            _print_outcome(console, outcome)
            for gate in outcome.failed_gates:
                why = f" ({gate.reason})" if gate.reason else ""
                typer.echo(
                    f"gate failed: {gate.gate}: observed {gate.observed}, needs "
                    f"{gate.threshold}{why}",
                    err=True,
                )
            raise typer.Exit(1)
        if outcome.to_step is not None and outcome.to_step.irreversible:
            _print_outcome(console, outcome)
            raise _fail(PlanError(outcome.message))
        console.print(escape(outcome.message))
        return
    assert outcome.to_step is not None
    number = walker.plan.index(outcome.to_step.id) + 1
    console.print(f"[green]Step {number}:[/green] [bold]{escape(outcome.to_step.title)}[/bold]")
    _print_outcome(console, outcome)
    for line in outcome.to_step.instructions:
        console.print(f"  $ {escape(line)}")
    console.print(f"Read the page: strangler plan show {outcome.to_step.id}")


@app.command()
def verify(plan: PlanOption = None) -> None:
    """Evaluate the current step's gates now (exit 0 all pass, 1 otherwise); changes nothing."""
    console = _console()
    try:
        outcome = _walker(plan).verify()
    except PlanError as err:
        raise _fail(err) from err
    console.print(escape(outcome.message))
    _print_outcome(console, outcome)
    raise typer.Exit(0 if outcome.moved else 1)


@app.command()
def rollback(plan: PlanOption = None) -> None:
    """Apply the current step's rollback flags and step back one."""
    console = _console()
    try:
        outcome = _walker(plan).rollback(actor=_actor())
    except PlanError as err:
        raise _fail(err) from err
    console.print(f"[yellow]{escape(outcome.message)}[/yellow]")
    _print_outcome(console, outcome)


@app.command()
def reset(
    plan: PlanOption = None,
    keep_flags: Annotated[
        bool, typer.Option("--keep-flags", help="Only forget the walk; leave the route flags.")
    ] = False,
) -> None:
    """Undo every step taken (newest first) and forget the walk."""
    console = _console()
    try:
        outcome = _walker(plan).reset(actor=_actor(), keep_flags=keep_flags)
    except PlanError as err:
        raise _fail(err) from err
    console.print(escape(outcome.message))
    _print_outcome(console, outcome)


@app.command()
def report(
    plan: PlanOption = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Folder for plan-report.md and plan-report.html (default: var/)."),
    ] = None,
    live: Annotated[
        bool,
        typer.Option(help="Also read mismatches and sync figures from the running stack."),
    ] = True,
) -> None:
    """Write the walk's dossier (Markdown and one self-contained HTML file)."""
    try:
        walker = _walker(plan)
        state = walker.state()
        now = datetime.now(UTC)
        if live:
            with Endpoints(walker.settings) as endpoints:
                doc = build_report(walker.plan, state, endpoints, now=now)
        else:
            doc = build_report(walker.plan, state, None, now=now)
    except PlanError as err:
        raise _fail(err) from err
    folder = out if out is not None else walker.settings.state_file.parent
    written = []
    for name, text in (
        ("plan-report.md", render_markdown(doc)),
        ("plan-report.html", render_html(doc)),
    ):
        path = folder / name
        try:
            folder.mkdir(parents=True, exist_ok=True)
            write_atomically(path, text)
        except OSError as err:
            raise _fail(PlanError(f"cannot write {path}: {err.strerror or err}")) from err
        written.append(path)
    for path in written:
        typer.echo(str(path))

"""`strangler compare`: replay a scenario against the monolith and a target and diff the answers.

Exit codes: 0 every step matches, 1 any mismatch, 2 bad input (unreadable scenario, unknown route,
a side that cannot be reached, a report that cannot be written) with one line on stderr.

A/A calibration (``--aa``) sends every step to the monolith twice and proposes ignore rules for
the fields that differ by themselves; it prints them as a YAML ``compare:`` block ready to paste
under the route, and ``--apply`` (with ``--routes`` and ``--route``) writes them into the route
file through :func:`proxy.config_edit.add_compare_ignores` (comments kept, validated, atomic,
audit-logged). With ``--apply`` the exit code is 0 when the proposals cover every difference.
"""

from __future__ import annotations

import getpass
import io
import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from ruamel.yaml import YAML

from proxy.atomic_file import write_atomically
from proxy.compare import Difference
from proxy.config import CompareRules, ConfigError, load_route_table
from proxy.config_edit import add_compare_ignores
from proxy.recording import recorded_scenario
from proxy.scenario import Scenario, ScenarioError, ScenarioReport, load_scenario, run_scenario
from strangler.admin_api import AdminApiError, admin_get
from strangler.console import progress, stdout_console
from strangler.stack import routes_file_path

_VALUE_WIDTH = 120


def compare(
    scenario: Annotated[
        Path | None, typer.Argument(help="Scenario file (YAML); or --recorded ROUTE.")
    ] = None,
    recorded: Annotated[
        str | None,
        typer.Option(
            help="Replay the requests the proxy recorded on this route (its `record` flag) "
            "instead of a scenario; its compare rules and target are the defaults."
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option(min=1, max=1000, help="With --recorded: the newest this many.")
    ] = 100,
    card_token: Annotated[
        str, typer.Option(help="With --recorded: the card token replayed for a redacted one.")
    ] = "tok_visa",
    monolith: Annotated[
        str,
        typer.Option(envvar="STRANGLER_MONOLITH_URL", help="Monolith base URL (the reference)."),
    ] = "http://127.0.0.1:8000",
    target: Annotated[
        str | None,
        typer.Option(
            envvar="STRANGLER_INVENTORY_URL",
            help="Base URL of the side under test (default: the recorded route's target, "
            "else http://127.0.0.1:8101).",
        ),
    ] = None,
    routes: Annotated[
        Path | None, typer.Option(help="Route file whose --route's compare rules to use.")
    ] = None,
    route: Annotated[str | None, typer.Option(help="Route name in --routes.")] = None,
    aa: Annotated[
        bool, typer.Option("--aa", help="A/A: monolith vs monolith, to find its own noise.")
    ] = False,
    report: Annotated[Path | None, typer.Option(help="Write the full report as JSON here.")] = None,
    live_writes: Annotated[
        bool,
        typer.Option("--live-writes", help="Send writes for real (no X-Strangler-Dry-Run)."),
    ] = False,
    host: Annotated[
        str | None, typer.Option(help="Host header for both sides (default: the monolith's).")
    ] = None,
    timeout: Annotated[float, typer.Option(help="Per-request timeout in seconds.")] = 10.0,
    apply: Annotated[
        bool,
        typer.Option(
            "--apply",
            help="With --aa, --routes and --route: add the proposed ignore rules to the route.",
        ),
    ] = False,
) -> None:
    """Replay a scenario against the monolith and a service and diff the answers."""
    # Markup on: the report styles its verdicts; every piece of data in it goes through escape().
    console = stdout_console(markup=True)
    try:
        if apply and not (aa and routes is not None and route is not None):
            raise ScenarioError("--apply needs --aa, --routes and --route")
        if (scenario is None) == (recorded is None):
            raise ScenarioError("give a scenario file or --recorded ROUTE (one of them)")
        if recorded is not None:
            routes = routes if routes is not None else routes_file_path(None)
            route = route if route is not None else recorded
            loaded, target_of_route = _recorded(recorded, routes, limit, card_token)
            target = target or target_of_route
        else:
            assert scenario is not None
            loaded = load_scenario(scenario)
        rules = _route_rules(routes, route)
        # A bar of the steps on a terminal's stderr; nothing of it in a pipe.
        with progress(
            TextColumn("comparing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            transient=True,
        ) as bar:
            steps = bar.add_task("steps", total=len(loaded.steps))
            result = run_scenario(
                loaded,
                monolith_url=monolith,
                target_url=target or "http://127.0.0.1:8101",
                rules=rules,
                aa=aa,
                live_writes=live_writes,
                host=host,
                timeout_s=timeout,
                on_step=lambda _name: bar.advance(steps),
            )
        if report is not None:
            data = result.as_dict()
            if aa:
                data["proposed_yaml"] = proposed_yaml(rules or loaded.compare, result)
            _write_json(report, data)
    except (ScenarioError, ConfigError, AdminApiError, OSError) as err:
        typer.echo(f"strangler compare: {_one_line(str(err))}", err=True)
        raise typer.Exit(2) from err
    print_report(console, result, rules=rules if route is not None else None, route=route)
    if not apply:
        raise typer.Exit(0 if result.ok else 1)
    assert routes is not None and route is not None
    proposals = result.proposed_ignores()
    try:
        change = add_compare_ignores(routes, route, proposals, actor=_actor())
    except (ConfigError, OSError) as err:
        typer.echo(f"strangler compare: not applied: {_one_line(str(err))}", err=True)
        raise typer.Exit(2) from err
    if change.changed:
        added = len(change.after["compare.ignore"]) - len(change.before["compare.ignore"])
        console.print(
            f"\nApplied: {added} ignore rule(s) added to route {escape(route)} in "
            f"{escape(str(routes))} (digest {change.digest[:12]}, audit-logged); a running "
            "proxy reloads it."
        )
    else:
        console.print(f"\nApplied: route {escape(route)} already ignores all of it.")
    raise typer.Exit(0 if result.explained_by_proposals() else 1)


def _actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER") or "cli"


def proposed_yaml(current: CompareRules, report: ScenarioReport) -> str:
    """The ``compare:`` block of a route (or scenario) with the A/A proposals added: valid YAML
    to paste in place of the current one ("" when nothing is proposed)."""
    proposals = [p for p in report.proposed_ignores() if p not in current.ignore]
    if not proposals:
        return ""
    block = current.model_dump(mode="json", exclude_defaults=True)
    block["ignore"] = [*current.ignore, *proposals]
    block = {"ignore": block.pop("ignore"), **block}
    yaml = YAML(typ="safe")
    yaml.default_flow_style = False
    buffer = io.StringIO()
    yaml.dump({"compare": block}, buffer)
    return buffer.getvalue()


def _recorded(route: str, routes: Path, limit: int, card_token: str) -> tuple[Scenario, str]:
    """The route's recorded requests as a scenario, and the URL of the route's target."""
    table = load_route_table(routes)
    try:
        target = table.route(route).target
    except KeyError:
        raise ScenarioError(f"{routes}: no route named {route!r}") from None
    if target is None:
        raise ScenarioError(f"route {route!r} has no target to compare with")
    page = admin_get("/admin/recordings", {"route": route, "limit": limit})
    recordings = page.get("results") or []
    if not recordings:
        raise ScenarioError(
            f"no recorded requests for route {route!r}: give the route "
            "`record: {percent: N}` and send it traffic first"
        )
    scenario = recorded_scenario(
        route, recordings, token=os.environ.get("COMPARE_TOKEN"), card_token=card_token
    )
    return scenario, table.upstreams[target].url


def _route_rules(routes: Path | None, route: str | None) -> CompareRules | None:
    if routes is None and route is None:
        return None
    if routes is None or route is None:
        raise ScenarioError("--routes and --route go together")
    table = load_route_table(routes)
    try:
        return table.route(route).compare
    except KeyError:
        raise ScenarioError(f"{routes}: no route named {route!r}") from None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Temp file beside the target, then rename: a report is whole or absent."""
    write_atomically(path.resolve(), json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def print_report(
    console: Console,
    report: ScenarioReport,
    *,
    rules: CompareRules | None = None,
    route: str | None = None,
) -> None:
    mode = "A/A (monolith vs monolith)" if report.aa else "monolith vs target"
    console.print(
        f"[bold]{escape(report.scenario)}[/bold]: {mode}  "
        f"{escape(report.monolith_url)} → {escape(report.target_url)}  (run {report.run}"
        f"{', live writes' if report.live_writes else ', writes as dry runs'})"
    )
    table = Table(show_lines=False)
    table.add_column("#", justify="right")
    table.add_column("step")
    table.add_column("request")
    table.add_column("status", justify="center")
    table.add_column("result")
    for number, step in enumerate(report.steps, 1):
        status = f"{step.expected.status} → {step.actual.status}"
        if step.ok:
            verdict = "[green]match[/green]"
        else:
            problems = len(step.differences) + len(step.dry_run_problems)
            problems += 1 if step.expectation else 0
            verdict = f"[red]{problems} problem{'s' if problems != 1 else ''}[/red]"
        table.add_row(
            str(number), escape(step.name), escape(f"{step.method} {step.path}"), status, verdict
        )
    console.print(table)
    for step in report.failed:
        console.print(
            f"\n[bold red]✗ {escape(step.name)}[/bold red]  {escape(f'{step.method} {step.path}')}"
        )
        if step.expectation:
            console.print(f"  [yellow]scenario:[/yellow] {escape(step.expectation)}")
        for problem in step.dry_run_problems:
            console.print(f"  [yellow]dry run:[/yellow] {escape(problem)}")
        for difference in step.differences:
            console.print("  " + _difference_line(difference))
    if report.aa:
        _print_aa(console, report, rules if rules is not None else report.rules, route)
    failed = len(report.failed)
    if failed:
        console.print(f"\n[red]{failed} of {len(report.steps)} steps differ.[/red]")
    else:
        console.print(f"\n[green]All {len(report.steps)} steps match.[/green]")


def _print_aa(
    console: Console, report: ScenarioReport, rules: CompareRules, route: str | None
) -> None:
    noisy = [step for step in report.steps if step.noise]
    if not noisy:
        console.print("\nA/A: the monolith answered every step identically twice.")
        return
    console.print("\nA/A: fields that differ between two calls to the monolith (no rules):")
    for step in noisy:
        for difference in step.noise:
            console.print(f"  {escape(step.name)}: {escape(difference.where)}")
    snippet = proposed_yaml(rules, report)
    if snippet:
        where = f"route {route}" if route else "the scenario"
        console.print(
            f"\nProposed compare rules for {escape(where)} (paste in place of its compare block, "
            "or re-run with --apply and --routes/--route):"
        )
        console.print(escape(snippet), end="", soft_wrap=True)
    else:
        console.print("The current rules already ignore all of it.")


def _difference_line(difference: Difference) -> str:
    where = escape(difference.where)
    if difference.kind == "missing":
        return (
            f"[cyan]{where}[/cyan] missing on the target (monolith: {_show(difference.expected)})"
        )
    if difference.kind == "extra":
        return f"[cyan]{where}[/cyan] only on the target: {_show(difference.actual)}"
    label = "type " if difference.kind == "type" else ""
    return (
        f"[cyan]{where}[/cyan] {label}[red]{_show(difference.expected)}[/red] → "
        f"[green]{_show(difference.actual)}[/green]"
    )


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    if len(text) > _VALUE_WIDTH:
        text = text[: _VALUE_WIDTH - 1] + "…"
    return escape(text)


def _one_line(text: str) -> str:
    return " ".join(text.split())

"""`strangler routes`: read, explain, lint and flip the proxy's route flags.

Thin over the proxy's own modules: the file is read with ``proxy.config``, changed only through
``proxy.config_edit.update_route`` (validated, atomic, audited; the running proxy hot-reloads
it), decisions come from ``proxy.routing`` and stored mismatches from the admin API.
"""

from __future__ import annotations

import getpass
import json
import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import httpx
import typer
from rich.table import Table
from rich.text import Text

from proxy.admin_client import await_loaded
from proxy.atomic_file import write_atomically
from proxy.config import MODES, ConfigError, Route, RouteTable, load_route_table
from proxy.config_edit import update_route
from proxy.lint import lint_file
from proxy.routing import RequestFacts, Router
from strangler.admin_api import AdminApiError, admin_get, admin_target
from strangler.console import stdout_console
from strangler.stack import routes_file_path

app = typer.Typer(
    help="Show, explain, lint and change the proxy's route flags.", no_args_is_help=True
)
out = stdout_console()

FileOption = Annotated[
    Path | None,
    typer.Option(
        "--file",
        "-f",
        help="Route file (default: $PROXY_ROUTES_FILE, else $STRANGLER_VAR_DIR/routes.yaml).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _fail(message: str) -> NoReturn:
    typer.echo(f"strangler routes: {' '.join(message.split())}", err=True)
    raise typer.Exit(1)


def _load(path: Path) -> RouteTable:
    try:
        return load_route_table(path)
    except ConfigError as err:
        _fail(str(err))


def _match_text(route: Route) -> str:
    match = route.match
    marks = {"path": f"= {match.rule}", "path_pattern": f"~ {match.rule}"}
    rule = marks.get(match.kind, f"{match.rule}*")
    methods = ",".join(match.methods) or "any"
    wanted = "".join(f" [{name}: {value}]" for name, value in match.headers.items())
    return f"{methods} {rule}{wanted}"


def _flag_text(route: Route) -> str:
    if route.mode == "canary":
        return f"canary {route.percent:g}%"
    return route.mode


def _route_json(route: Route) -> dict[str, Any]:
    """A row of `routes list --json`: the table's columns, each as data."""
    match = route.match
    return {
        "name": route.name,
        "match": {
            "kind": match.kind,
            "rule": match.rule,
            "methods": list(match.methods),
            "headers": dict(match.headers),
        },
        "mode": route.mode,
        "percent": route.percent if route.mode == "canary" else None,
        "target": route.target,
        "sticky": route.sticky if route.mode == "canary" else None,
        "fallback": route.fallback,
    }


def _echo_json(data: object) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


@app.command("list")
def list_routes(file: FileOption = None, as_json: JsonOption = False) -> None:
    """Every route with its match, mode and target."""
    path = routes_file_path(file)
    table = _load(path)
    if as_json:
        _echo_json(
            {
                "file": str(path),
                "digest": table.digest,
                "routes": [_route_json(route) for route in table.routes],
            }
        )
        return
    grid = Table(title=f"{path} (digest {table.digest[:12]})")
    grid.add_column("route", no_wrap=True)
    grid.add_column("match", overflow="fold")
    for column in ("mode", "target", "sticky", "fallback"):
        grid.add_column(column, overflow="fold")
    for route in table.routes:
        grid.add_row(
            route.name,
            _match_text(route),
            _flag_text(route),
            route.target or "-",
            route.sticky if route.mode == "canary" else "-",
            route.fallback or "-",
        )
    grid.caption = "no route matches -> 404 from the proxy; /internal/ is never forwarded"
    out.print(grid)


def _route_named(name: str, path: Path) -> tuple[RouteTable, Route]:
    """The route table in ``path`` and its route ``name``; one line and exit 1 when it has none."""
    table = _load(path)
    try:
        return table, table.route(name)
    except KeyError:
        _fail(f"no route named {name!r} in {path}")


@app.command()
def show(name: str, file: FileOption = None) -> None:
    """One route in full, with its upstreams and lint findings."""
    path = routes_file_path(file)
    table, route = _route_named(name, path)
    out.print(Text.assemble((route.name, "bold"), f"  {_match_text(route)}"))
    out.print(f"  mode      {_flag_text(route)}")
    for label, upstream in (("target", route.target), ("fallback", route.fallback)):
        if upstream:
            spec = table.upstreams[upstream]
            extra = ", dry-run" if spec.dry_run else ""
            extra += f", sync {spec.sync}" if spec.sync != "none" else ""
            extra += f", retries {spec.retry.attempts}" if spec.retry.attempts != 1 else ""
            out.print(f"  {label:<9} {upstream} ({spec.url}, timeout {spec.timeout_s:g}s{extra})")
    out.print(f"  sticky    {route.sticky}")
    if route.read_your_writes is not None:
        out.print(
            f"  ryw       group {route.write_group}, window {route.read_your_writes.window_s:g}s"
        )
    rules = route.compare.model_dump(mode="json")
    out.print("  compare   " + " ".join(f"{key}={value}" for key, value in rules.items()))
    for finding in lint_file(path):
        if finding.route == name:
            out.print(f"  {finding.severity}: {finding.message}")


#: How many recordings `--record` keeps when `--record-max` is not given.
DEFAULT_RECORD_MAX = 1000


def _pointless_option(route: Route, changes: dict[str, Any]) -> str:
    """Why an option of `routes set` would do nothing on ``route`` as the change leaves it ("" when
    each does something): a flag the resulting mode ignores is refused rather than stored."""
    mode = changes.get("mode", route.mode)
    target = changes.get("target", route.target)
    ryw = route.read_your_writes is not None
    whose = "given with --mode" if "mode" in changes else "the route's mode now"
    not_for = f"not for mode {mode} ({whose})"
    if "percent" in changes and mode != "canary":
        return f"--percent is the canary share, {not_for}: give --mode canary with it"
    if "sticky" in changes and mode != "canary" and not ryw:
        return (
            f"--sticky picks a canary's bucket or a read-your-writes key, {not_for}, and the "
            "route has no read_your_writes: give --mode canary with it"
        )
    if changes.get("fallback") is not None and mode not in ("canary", "extracted"):
        return (
            f"--fallback takes the requests the target failed, {not_for}, where the monolith "
            "answers them: give --mode canary or extracted with it (--fallback none removes one)"
        )
    if changes.get("record") and target is None:
        return (
            f"--record keeps requests to replay against the route's target and {route.name} "
            "has none: give --target with it"
        )
    return ""


def _actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER") or "cli"


@app.command("set")
def set_route(
    name: str,
    mode: Annotated[
        str | None, typer.Option(help=f"One of {', '.join(MODES)}.", show_default=False)
    ] = None,
    percent: Annotated[
        float | None, typer.Option(help="Canary share, 0-100.", show_default=False)
    ] = None,
    target: Annotated[str | None, typer.Option(help="Target upstream.", show_default=False)] = None,
    fallback: Annotated[
        str | None, typer.Option(help="Fallback upstream ('none' removes it).", show_default=False)
    ] = None,
    sticky: Annotated[
        str | None,
        typer.Option(
            help="jwt:sub, header:<Name>, cookie:<name>, client:addr.", show_default=False
        ),
    ] = None,
    record: Annotated[
        float | None,
        typer.Option(
            help="Record this percent of the route's requests, redacted, for `strangler compare "
            "--recorded` (0 stops recording).",
            show_default=False,
        ),
    ] = None,
    record_max: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=100_000,
            help=f"With --record: keep the newest this many [default: {DEFAULT_RECORD_MAX}].",
        ),
    ] = None,
    file: FileOption = None,
) -> None:
    """Change a route's flags; the running proxy picks the change up within a second."""
    changes: dict[str, Any] = {}
    if mode is not None:
        if mode not in MODES:
            raise typer.BadParameter(f"choose from {', '.join(MODES)}", param_hint="--mode")
        changes["mode"] = mode
    if percent is not None:
        changes["percent"] = int(percent) if percent == int(percent) else percent
    if target is not None:
        changes["target"] = target
    if fallback is not None:
        changes["fallback"] = None if fallback.lower() == "none" else fallback
    if sticky is not None:
        changes["sticky"] = sticky
    if record is not None:
        share = int(record) if record == int(record) else record
        keep = DEFAULT_RECORD_MAX if record_max is None else record_max
        changes["record"] = {"percent": share, "max_requests": keep} if record else None
    if record_max is not None and not record:
        _fail("refused, file unchanged: --record-max goes with --record above 0")
    if not changes:
        raise typer.BadParameter(
            "give at least one of --mode, --percent, --target, --fallback, --sticky, --record"
        )
    path = routes_file_path(file)
    _, current = _route_named(name, path)
    problem = _pointless_option(current, changes)
    if problem:
        _fail(f"refused, file unchanged: {problem}")
    try:
        change = update_route(path, name, actor=_actor(), **changes)
    except KeyError:
        _fail(f"no route named {name!r} in {path}")
    except ConfigError as err:
        _fail(f"refused, file unchanged: {err}")
    if not change.changed:
        out.print(f"{name}: nothing to change")
        return
    before = ", ".join(f"{k}={v}" for k, v in change.before.items())
    after = ", ".join(f"{k}={v}" for k, v in change.after.items())
    out.print(f"{name}: {before} -> {after} (digest {change.digest[:12]})")
    for finding in lint_file(path):
        if finding.route == name:
            typer.echo(f"strangler routes: {finding}", err=True)
    base, token = admin_target()
    loaded = await_loaded(base, token, path, change.digest)
    if loaded.live:
        out.print(f"live: {loaded.detail}")
    elif loaded.outcome in ("not_running", "other_file"):
        out.print(f"written to the file ({loaded.detail}; a proxy loads it when it starts)")
    else:
        typer.echo(f"strangler routes: warning: {loaded.detail}", err=True)


def _parse_header(spec: str) -> tuple[str, str]:
    name, sep, value = spec.partition(":")
    if not sep or not name.strip():
        raise typer.BadParameter(f"expected 'Name: value', got {spec!r}", param_hint="--header")
    return name.strip(), value.strip()


@app.command()
def explain(
    method: str,
    path: str,
    key: Annotated[
        str | None, typer.Option(help="The sticky key to assume (skips reading it).")
    ] = None,
    header: Annotated[
        list[str] | None, typer.Option(help="A request header, 'Name: value' (repeatable).")
    ] = None,
    client: Annotated[str, typer.Option(help="The client address to assume.")] = "127.0.0.1",
    file: FileOption = None,
) -> None:
    """Which route, mode, bucket and upstream a request would get, and why."""
    from multidict import CIMultiDict  # aiohttp's header mapping: case-insensitive, like HTTP

    table = _load(routes_file_path(file))
    headers: CIMultiDict[str] = CIMultiDict(_parse_header(h) for h in header or ())
    considered: list[tuple[Route, str]] = []
    decision = Router(table).decide(
        RequestFacts(method.upper(), path.split("?", 1)[0], headers, client, key_override=key),
        considered,
    )
    out.print(f"route     {decision.route_name}")
    out.print(f"mode      {decision.mode}")
    if decision.bucket is not None and decision.route is not None:
        threshold = round(decision.route.percent * 100)
        side = "<" if decision.bucket < threshold else ">="
        out.print(f"bucket    {decision.bucket} of 10000 ({side} threshold {threshold})")
    if decision.primary is None:
        out.print("upstream  - (the proxy answers 404)")
    else:
        url = table.upstreams[decision.primary].url
        out.print(f"upstream  {decision.primary} ({url})")
    if decision.shadow:
        out.print(f"shadow    {decision.shadow}")
    if decision.fallback:
        out.print(f"fallback  {decision.fallback} (idempotent requests, when the target fails)")
    out.print(f"why       {decision.reason}")
    ryw = decision.route.read_your_writes if decision.route is not None else None
    if ryw is not None and decision.route is not None:
        out.print(
            f"ryw       group {decision.route.write_group}, window {ryw.window_s:g}s: a key that "
            "wrote within the window reads from the upstream that took its write (memory of "
            "each proxy process, not shown here)"
        )
    if decision.primary is not None:
        out.print(f"breaker   {_breaker_text(decision.primary, decision.fallback, method.upper())}")
    if considered:
        out.print("considered (in precedence order):")
        for route, why in considered:
            out.print(f"  {route.name:<24} {_match_text(route):<40} {why}")


def _breaker_text(upstream: str, fallback: str | None, method: str) -> str:
    """The upstream's circuit state as the running proxy reports it, or 'unknown'."""
    base, token = admin_target()
    if not token:
        return f"{upstream}: unknown (no admin token to ask a running proxy)"
    try:
        resp = httpx.get(
            f"{base}/admin/stats", headers={"Authorization": f"Bearer {token}"}, timeout=2
        )
    except httpx.HTTPError:
        return f"{upstream}: unknown (no proxy admin API answers at {base})"
    if resp.status_code != 200:
        return f"{upstream}: unknown (the admin API at {base} answered {resp.status_code})"
    state = resp.json().get("upstreams", {}).get(upstream, {}).get("breaker")
    if state is None:
        return f"{upstream}: unknown (the running proxy at {base} has no such upstream)"
    text = f"{upstream}: {state} (running proxy at {base})"
    from proxy.retrying import may_fall_back  # the upstream client's imports: explain only

    if state != "closed" and may_fall_back(method, fallback):
        text += f"; while open, this request goes to {fallback}"
    return text


@app.command()
def lint(
    file_arg: Annotated[Path | None, typer.Argument(metavar="[FILE]", show_default=False)] = None,
    file: FileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check the route file: schema, unreachable or overlapping routes, risky flags."""
    path = file_arg or routes_file_path(file)
    findings = lint_file(path)
    errors = sum(f.severity == "error" for f in findings)
    warnings = len(findings) - errors
    if as_json:
        _echo_json(
            {
                "file": str(path),
                "errors": errors,
                "warnings": warnings,
                "findings": [
                    {"severity": f.severity, "route": f.route, "message": f.message}
                    for f in findings
                ],
            }
        )
    else:
        for finding in findings:
            out.print(str(finding), style="red" if finding.severity == "error" else "yellow")
        out.print(f"{path}: {errors} error(s), {warnings} warning(s)")
    if errors:
        raise typer.Exit(1)


class Engine(StrEnum):
    nginx = "nginx"
    envoy = "envoy"


def _render(engine: Engine, table: RouteTable, listen: str) -> tuple[str, list[str]]:
    """The engine's configuration for ``table`` and what it cannot express."""
    if engine is Engine.envoy:
        from proxy.export_envoy import envoy_findings, render_envoy  # export only

        try:
            return render_envoy(table, listen=listen), envoy_findings(table)
        except ValueError as err:
            _fail(str(err))
    from proxy.export_nginx import nginx_findings, render_nginx  # export only

    return render_nginx(table, listen=listen), nginx_findings(table)


@app.command("export")
def export(
    engine: Annotated[Engine, typer.Argument(help="The engine to render for.")],
    check: Annotated[
        bool,
        typer.Option(
            "--check", help="List what the engine cannot express (exit 1 if anything) instead."
        ),
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write here (atomically) instead of stdout."),
    ] = None,
    listen: Annotated[
        str, typer.Option(help="Address the engine listens on (HOST:PORT or PORT).")
    ] = "127.0.0.1:8080",
    file: FileOption = None,
) -> None:
    """Render the route table as the engine's configuration (same table, same bytes)."""
    path = routes_file_path(file)
    table = _load(path)
    text, findings = _render(engine, table, listen)
    if check:
        for finding in findings:
            typer.echo(finding)
        if findings:
            raise typer.Exit(1)
        return
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        write_atomically(output, text)
    except OSError as err:
        _fail(f"cannot write {output}: {err.strerror or err}")


def _admin_get(path: str, params: dict[str, Any]) -> Any:
    try:
        return admin_get(path, params)
    except AdminApiError as err:
        _fail(str(err))


@app.command()
def mismatches(
    route: Annotated[str | None, typer.Option(help="Only this route.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 20,
    since: Annotated[str | None, typer.Option(help="From this ISO 8601 date-time.")] = None,
    until: Annotated[str | None, typer.Option(help="Before this ISO 8601 date-time.")] = None,
    status: Annotated[
        str | None,
        typer.Option(help="EXPECTED:ACTUAL status pair, '*' for any (200:500, *:404)."),
    ] = None,
    path: Annotated[str | None, typer.Option(help="Only paths containing this text.")] = None,
    cursor: Annotated[
        str | None, typer.Option(help="The next cursor a previous page printed (older rows).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the admin API's JSON.")] = False,
    file: FileOption = None,
) -> None:
    """Shadow mismatches stored by the running proxy, newest first."""
    if route is not None:
        _route_named(route, routes_file_path(file))
    data = _admin_get(
        "/admin/mismatches",
        {
            "route": route,
            "limit": limit,
            "since": since,
            "until": until,
            "status": status,
            "path": path,
            "cursor": cursor,
        },
    )
    if as_json:
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    grid = Table(title=f"{data['count']} mismatch(es)" + (f" on {route}" if route else ""))
    for column in ("id", "at", "route", "request", "status", "sync lag", "differences"):
        grid.add_column(column, overflow="fold")
    for row in data["results"]:
        diffs = row["differences"]
        shown = "; ".join(
            f"{d['where']} {d['kind']}: {d.get('expected')!r} -> {d.get('actual')!r}"
            for d in diffs[:3]
        )
        if len(diffs) > 3:
            shown += f"; +{len(diffs) - 3} more"
        query = f"?{row['query']}" if row.get("query") else ""
        lag = row.get("sync_lag_s")
        grid.add_row(
            str(row["id"]),
            row["at"],
            row["route"],
            f"{row['method']} {row['path']}{query}",
            f"{row['expected']['status']} vs {row['actual']['status']}",
            "unknown" if lag is None else f"{lag:.1f}s",
            shown,
        )
    out.print(grid)
    if data.get("next_cursor") is not None:
        out.print(f"older: --cursor {data['next_cursor']}")

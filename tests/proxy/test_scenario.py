"""proxy.scenario and `strangler compare`: scenarios replayed over real HTTP against real processes.

The two sides are small HTTP servers started as real processes (this module run as a script,
see ``serve`` at the bottom) in a few variants: ``reference``, ``drift`` (a changed price, a
missing field, another text), ``noisy`` (a per-call timestamp) and ``no-dry-run`` (does not mark
dry-run writes rolled back).
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from proxy.config import CompareRules, load_route_table
from proxy.config_edit import read_audit
from proxy.scenario import (
    Placeholders,
    ScenarioError,
    load_scenario,
    parse_scenario,
    run_scenario,
)
from tests.support.ports import free_port
from tests.support.processes import REPO_ROOT, VENV_BIN, ServerProcess
from tests.support.random_refs import random_suffix

STRANGLER = str(VENV_BIN / "strangler")

ITEMS_SCENARIO = """
name: items
steps:
  - {name: list, path: /api/items/, expect_status: 200}
  - {name: one item, path: /api/items/B/}
  - {name: missing item, path: "/api/items/NOPE-{run}/", expect_status: 404}
  - {name: text, path: /text}
  - name: create
    method: POST
    path: /api/items/
    body: {sku: "NEW-{run}", price: "3.00"}
    expect_status: 201
    compare: {ignore: [$.id]}
"""


# --- the servers under comparison --------------------------------------------------------------


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], str]]:
    """``servers(variant)`` -> base URL of a running server of that variant (started once)."""
    log_dir = tmp_path_factory.mktemp("scenario-servers")
    running: dict[str, tuple[ServerProcess, str]] = {}

    def start(variant: str) -> str:
        if variant not in running:
            port = free_port()
            proc = ServerProcess(
                f"upstream-{variant}",
                [sys.executable, "-m", "tests.proxy.test_scenario", str(port), variant],
                log_dir=log_dir,
            ).start()
            url = f"http://127.0.0.1:{port}"
            proc.wait_http_ok(f"{url}/health")
            running[variant] = (proc, url)
        return running[variant][1]

    yield start
    for proc, _ in running.values():
        proc.stop()


def write_scenario(tmp_path: Path, text: str = ITEMS_SCENARIO) -> Path:
    path = tmp_path / f"scenario-{random_suffix()}.yaml"
    path.write_text(text)
    return path


def strangler(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [STRANGLER, *map(str, args)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )


# --- the CLI -----------------------------------------------------------------------------------


def test_matching_sides_exit_0(tmp_path: Path, servers: Callable[[str], str]) -> None:
    report_path = tmp_path / "report.json"
    done = strangler(
        "compare",
        write_scenario(tmp_path),
        "--monolith",
        servers("reference"),
        "--target",
        servers("reference-2"),
        "--report",
        report_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All 5 steps match" in done.stdout
    report = json.loads(report_path.read_text())
    assert report["ok"] is True and report["summary"] == {"steps": 5, "failed": 0}
    statuses = [s["status"] for s in report["steps"]]
    assert statuses == [[200, 200], [200, 200], [404, 404], [200, 200], [201, 201]]


def test_a_mismatch_is_reported_with_json_paths_and_exit_1(
    tmp_path: Path, servers: Callable[[str], str]
) -> None:
    report_path = tmp_path / "report.json"
    done = strangler(
        "compare",
        write_scenario(tmp_path),
        "--monolith",
        servers("reference"),
        "--target",
        servers("drift"),
        "--report",
        report_path,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "$.results[1].price" in done.stdout
    report = json.loads(report_path.read_text())
    failed = {s["name"]: s for s in report["steps"] if not s["ok"]}
    assert set(failed) == {"list", "one item", "text"}
    assert failed["list"]["differences"] == [
        {"where": "$.results[1].price", "kind": "changed", "expected": "1.50", "actual": "2.01"},
        {"where": "$.results[2].name", "kind": "missing", "expected": "Cup", "actual": None},
    ]
    assert failed["one item"]["differences"] == [
        {"where": "$.price", "kind": "changed", "expected": "1.50", "actual": "2.01"}
    ]
    assert failed["text"]["differences"] == [
        {"where": "body", "kind": "changed", "expected": "hello\n", "actual": "hullo\n"}
    ]
    assert json.loads(failed["one item"]["expected_body"])["price"] == "1.50"
    assert json.loads(failed["one item"]["actual_body"])["price"] == "2.01"


def test_route_rules_replace_the_scenario_rules(
    tmp_path: Path, servers: Callable[[str], str]
) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        "upstreams:\n  monolith: {url: http://127.0.0.1:9}\n  items: {url: http://127.0.0.1:9}\n"
        "routes:\n  - name: items\n    match: {path_prefix: /api/items/}\n    target: items\n"
        "    compare: {ignore: ['$..price', '$.results[*].name']}\n"
    )
    report_path = tmp_path / "report.json"
    args = ["--monolith", servers("reference"), "--target", servers("drift")]
    done = strangler(
        "compare", write_scenario(tmp_path), *args, "--routes", routes, "--route", "items",
        "--report", report_path,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads(report_path.read_text())
    assert report["rules"]["ignore"] == ["$..price", "$.results[*].name"]
    assert report["rules"]["unordered"] == []
    assert [s["name"] for s in report["steps"] if not s["ok"]] == ["text"]


def test_aa_finds_the_monoliths_own_noise_and_proposes_rules(
    tmp_path: Path, servers: Callable[[str], str]
) -> None:
    report_path = tmp_path / "report.json"
    scenario = write_scenario(tmp_path)
    done = strangler(
        "compare", scenario, "--aa", "--monolith", servers("noisy"), "--report", report_path
    )
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads(report_path.read_text())
    assert report["mode"] == "aa" and report["target"] == report["monolith"]
    assert report["proposed_ignores"] == ["$.results[*].seen", "$.served_at", "$.seen"]
    assert "Proposed compare rules" in done.stdout and "$.results[*].seen" in done.stdout
    create = next(s for s in report["steps"] if s["name"] == "create")
    assert [d["where"] for d in create["noise"]] == ["$.id", "$.served_at"]  # id already ignored

    calibrated = ITEMS_SCENARIO.replace(
        "name: items\n",
        "name: items\ncompare: {ignore: [$.served_at, $.seen, '$.results[*].seen']}\n",
    )
    again = strangler(
        "compare", write_scenario(tmp_path, calibrated), "--aa", "--monolith", servers("noisy")
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already ignore all of it" in again.stdout


CALIBRATED_ROUTES = """\
# routes under calibration
upstreams:
  monolith: {url: http://127.0.0.1:9}
routes:
  - name: items  # the route being calibrated
    match: {path_prefix: /api/items/}
    # compare rules follow
    compare: {ignore: [$.id], tolerance: {$.total: 0.01}}
  - name: other
    match: {path_prefix: /api/other/}
"""


def test_aa_apply_writes_the_proposals_into_the_route(
    tmp_path: Path, servers: Callable[[str], str]
) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(CALIBRATED_ROUTES)
    scenario = write_scenario(tmp_path)
    args: list[str | Path] = ["--aa", "--monolith", servers("noisy"), "--routes", routes]
    args += ["--route", "items"]
    report_path = tmp_path / "report.json"

    shown = strangler("compare", scenario, *args, "--report", report_path)
    assert shown.returncode == 1, shown.stdout + shown.stderr
    assert routes.read_text() == CALIBRATED_ROUTES  # proposing changes nothing
    # The snippet is the route's whole compare block, proposals added: paste-ready YAML.
    snippet = json.loads(report_path.read_text())["proposed_yaml"]
    block = CompareRules(**YAML(typ="safe").load(snippet)["compare"])
    assert block.ignore == ("$.id", "$.results[*].seen", "$.served_at", "$.seen")
    assert block.tolerance == {"$.total": 0.01}
    assert "$.results[*].seen" in shown.stdout

    applied = strangler("compare", scenario, *args, "--apply")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "3 ignore rule(s) added to route items" in applied.stdout
    text = routes.read_text()
    for comment in ("# routes under calibration", "# the route being calibrated", "# compare"):
        assert comment in text
    table = load_route_table(routes)
    assert table.route("items").compare.ignore == block.ignore
    assert table.route("items").compare.tolerance == {"$.total": 0.01}
    assert table.route("other").compare == CompareRules()
    (record,) = read_audit(routes)
    assert record["route"] == "items" and record["actor"]
    assert record["before"] == {"compare.ignore": ["$.id"]}
    assert record["after"] == {"compare.ignore": list(block.ignore)}

    # Calibrated: the A/A run is clean, and applying again changes nothing.
    again = strangler("compare", scenario, *args, "--apply")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already ignore all of it" in again.stdout
    assert routes.read_text() == text and len(read_audit(routes)) == 1


def test_aa_apply_adds_a_compare_block_where_there_is_none(
    tmp_path: Path, servers: Callable[[str], str]
) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(CALIBRATED_ROUTES)
    scenario = write_scenario(tmp_path)
    args: list[str | Path] = ["--aa", "--monolith", servers("noisy"), "--routes", routes]
    args += ["--route", "other"]
    assert strangler("compare", scenario, *args, "--apply").returncode == 0
    other = load_route_table(routes).route("other").compare
    # $.id is not proposed: the scenario's create step ignores it already.
    assert other.ignore == ("$.results[*].seen", "$.served_at", "$.seen")
    assert "- name: other\n    match: {path_prefix: /api/other/}\n    compare:\n" in (
        routes.read_text()
    )


@pytest.mark.parametrize(
    "args",
    [
        ["--apply"],
        ["--apply", "--aa"],
        ["--apply", "--aa", "--route", "items"],
    ],
)
def test_apply_needs_aa_and_a_route(tmp_path: Path, args: list[str]) -> None:
    done = strangler("compare", write_scenario(tmp_path), *args)
    assert done.returncode == 2
    assert "--apply needs --aa, --routes and --route" in done.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read scenario"),
        ("steps: [{name: a, path: /x}", "not valid YAML"),
        ("steps: []", "steps"),
        ("steps: [{name: a, path: x}]", "path must start with '/'"),
        ("steps: [{name: a, path: /x, bogus: 1}]", "bogus"),
        ("steps: [{name: a, path: /x, method: FETCH}]", "unknown HTTP method"),
        ("[{name: a, path: /x}, {name: a, path: /y}]", "duplicate step name"),
        ("compare: {ignore: [nope]}\nsteps: [{name: a, path: /x}]", "must start with '$'"),
        ("just text", "expected a list of steps"),
    ],
)
def test_an_unusable_scenario_is_one_line_and_exit_2(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "scenario.yaml"
    if content is not None:
        path.write_text(content)
    done = strangler("compare", path, "--monolith", "http://127.0.0.1:9", "--target", "http://x")
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert message in done.stderr


def test_other_bad_input_is_exit_2_and_writes_no_report(
    tmp_path: Path, servers: Callable[[str], str]
) -> None:
    scenario = write_scenario(tmp_path)
    report = tmp_path / "report.json"
    dead = f"http://127.0.0.1:{free_port()}"
    routes = tmp_path / "routes.yaml"
    routes.write_text("upstreams:\n  monolith: {url: http://127.0.0.1:9}\n")
    ref = servers("reference")
    cases: list[tuple[list[str | Path], str]] = [
        (["--monolith", ref, "--target", dead], "cannot reach the target"),
        (["--monolith", dead, "--target", ref], "cannot reach the monolith"),
        (["--monolith", ref, "--target", ref, "--route", "items"], "--routes and --route"),
        (["--monolith", ref, "--target", ref, "--routes", routes, "--route", "x"], "no route"),
        (["--monolith", ref, "--target", ref, "--routes", tmp_path / "none.yaml", "--route", "x"],
         "cannot read route file"),
    ]  # fmt: skip
    for args, message in cases:
        done = strangler("compare", scenario, *args, "--report", report)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1
        assert not report.exists()
    nowhere = tmp_path / "missing-dir" / "report.json"
    done = strangler("compare", scenario, "--monolith", ref, "--target", ref, "--report", nowhere)
    assert done.returncode == 2 and "No such file" in done.stderr
    assert not nowhere.parent.exists()


# --- the runner --------------------------------------------------------------------------------

ECHO_SCENARIO = """
steps:
  - {name: read, path: "/echo/{run}/{uuid:order}"}
  - name: write
    method: POST
    path: "/echo/{uuid:order}"
    body: {order_id: "{uuid:order}", note: "run {run}", nested: ["{uuid:other}"]}
  - name: own header wins
    method: PUT
    path: /echo/x
    raw_body: "a=1"
    headers: {content-type: text/plain, X-Run: "{run}"}
"""


def _echo(result: Any, side: str) -> dict[str, Any]:
    exchange = result.expected if side == "monolith" else result.actual
    decoded: dict[str, Any] = json.loads(exchange.body)
    return decoded


def test_writes_are_dry_runs_and_both_sides_see_the_same_request(
    servers: Callable[[str], str],
) -> None:
    monolith, target = servers("reference"), servers("reference-2")
    scenario = parse_scenario(ECHO_SCENARIO)
    placeholders = Placeholders()
    report = run_scenario(
        scenario, monolith_url=monolith, target_url=target, placeholders=placeholders
    )

    assert report.ok, [s.as_dict() for s in report.failed]
    read, write, put = report.steps
    order = placeholders.uuids["order"]
    assert uuid.UUID(order).version == 4
    for side in ("monolith", "target"):
        seen_read, seen_write = _echo(read, side), _echo(write, side)
        assert seen_read["path"] == f"/echo/{placeholders.run}/{order}"
        assert "x-strangler-dry-run" not in seen_read["headers"]
        assert seen_write["headers"]["x-strangler-dry-run"] == "1"
        assert seen_write["headers"]["host"] == monolith.removeprefix("http://")
        assert json.loads(seen_write["body"]) == {
            "order_id": order,
            "note": f"run {placeholders.run}",
            "nested": [placeholders.uuids["other"]],
        }
        seen_put = _echo(put, side)
        assert seen_put["headers"]["content-type"] == "text/plain"
        assert seen_put["headers"]["x-run"] == placeholders.run
        assert seen_put["body"] == "a=1"

    live = run_scenario(scenario, monolith_url=monolith, target_url=target, live_writes=True)
    assert "x-strangler-dry-run" not in _echo(live.steps[1], "target")["headers"]
    assert live.run != report.run


def test_env_placeholders_come_from_the_runners_environment(
    servers: Callable[[str], str],
) -> None:
    monolith = servers("reference")
    scenario = parse_scenario(
        'steps: [{name: read, path: "/echo/{env:ROW_ID}", headers: {Authorization: '
        '"Bearer {env:TOKEN}"}}]'
    )
    placeholders = Placeholders(env={"ROW_ID": "r-1", "TOKEN": "t.o.k"})
    report = run_scenario(scenario, monolith_url=monolith, aa=True, placeholders=placeholders)
    seen = _echo(report.steps[0], "monolith")
    assert (seen["path"], seen["headers"]["authorization"]) == ("/echo/r-1", "Bearer t.o.k")
    with pytest.raises(ScenarioError, match="needs the environment variable TOKEN"):
        run_scenario(
            scenario,
            monolith_url=monolith,
            aa=True,
            placeholders=Placeholders(env={"ROW_ID": "r-1"}),
        )


def test_a_missing_env_placeholder_is_one_line_and_exit_2(
    tmp_path: Path, servers: Callable[[str], str]
) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text('steps: [{name: read, path: "/echo/{env:STRANGLER_TEST_UNSET_VAR}"}]')
    ref = servers("reference")
    done = strangler("compare", path, "--monolith", ref, "--target", ref)
    assert done.returncode == 2
    assert "needs the environment variable STRANGLER_TEST_UNSET_VAR" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_side_that_keeps_a_dry_run_write_is_reported(servers: Callable[[str], str]) -> None:
    scenario = parse_scenario(ITEMS_SCENARIO)
    report = run_scenario(
        scenario, monolith_url=servers("reference"), target_url=servers("no-dry-run")
    )
    (create,) = report.failed
    assert create.name == "create" and create.differences == []
    assert create.dry_run_problems == [
        "target answered 201 without X-Strangler-Dry-Run: rolled-back; the write may have been kept"
    ]


def test_expect_status_checks_the_monolith(servers: Callable[[str], str]) -> None:
    scenario = parse_scenario("- {name: wrong, path: /api/items/A/, expect_status: 404}")
    report = run_scenario(scenario, monolith_url=servers("reference"), aa=True)
    (step,) = report.failed
    assert step.differences == []
    assert step.expectation == "expected status 404, the monolith answered 200"


def test_explicit_rules_replace_the_scenarios_and_step_rules_add_to_them(
    servers: Callable[[str], str],
) -> None:
    scenario = parse_scenario(ITEMS_SCENARIO)
    report = run_scenario(
        scenario,
        monolith_url=servers("reference"),
        target_url=servers("drift"),
        rules=CompareRules(ignore=("$..price",)),
    )
    list_step = report.steps[0]
    assert [d.where for d in list_step.differences] == ["$.results[2].name"]
    assert report.steps[1].ok
    assert report.rules == CompareRules(ignore=("$..price",))


def test_a_target_is_required_outside_aa() -> None:
    with pytest.raises(ScenarioError, match="target URL"):
        run_scenario(parse_scenario(ITEMS_SCENARIO), monolith_url="http://127.0.0.1:9")


def test_the_inventory_scenario_is_valid() -> None:
    scenario = load_scenario(REPO_ROOT / "proxy" / "scenarios" / "inventory.yaml")
    methods = {step.method for step in scenario.steps}
    assert {"GET", "HEAD", "POST"} <= methods
    statuses = {step.expect_status for step in scenario.steps}
    assert {200, 201, 400, 401, 403, 404, 405, 409, 415} <= statuses
    assert all(step.expect_status is not None for step in scenario.steps)


# --- the upstream used above, run as ``python -m tests.proxy.test_scenario PORT VARIANT`` -------

ITEMS = [
    {"sku": "A", "name": "Mug", "price": "1.00"},
    {"sku": "B", "name": "Bowl", "price": "1.50"},
    {"sku": "C", "name": "Cup", "price": "2.00"},
]


def _items(variant: str) -> list[dict[str, Any]]:
    items = [dict(item) for item in ITEMS]
    if variant == "drift":
        items[1]["price"] = "2.01"
        del items[2]["name"]
    if variant == "noisy":
        for item in items:
            item["seen"] = uuid.uuid4().hex
    return items


def make_handler(variant: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            if isinstance(body, str):
                data, kind = body.encode(), "text/plain"
            else:
                if variant == "noisy" and isinstance(body, dict):
                    body = {**body, "served_at": uuid.uuid4().hex}
                data, kind = json.dumps(body).encode(), "application/json"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _dry_run_headers(self) -> dict[str, str]:
            if self.headers.get("X-Strangler-Dry-Run") == "1" and variant != "no-dry-run":
                return {"X-Strangler-Dry-Run": "rolled-back"}
            return {}

        def _echo(self) -> None:
            body = self._body()
            self._reply(
                200,
                {
                    "method": self.command,
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body.decode(),
                },
                self._dry_run_headers(),
            )

        def do_GET(self) -> None:
            items = {item["sku"]: item for item in _items(variant)}
            if self.path == "/health":
                self._reply(200, {"status": "ok"})
            elif self.path.startswith("/echo"):
                self._echo()
            elif self.path == "/text":
                self._reply(200, "hullo\n" if variant == "drift" else "hello\n")
            elif self.path == "/api/items/":
                results = list(items.values())
                host = self.headers.get("Host")
                page = {"count": len(results), "next": f"http://{host}/api/items/?page=2"}
                self._reply(200, {**page, "results": results})
            elif self.path.startswith("/api/items/") and self.path.endswith("/"):
                sku = self.path.removeprefix("/api/items/").rstrip("/")
                if sku in items:
                    self._reply(200, items[sku])
                else:
                    self._reply(404, {"error": "not_found", "detail": f"Item '{sku}' not found."})
            else:
                self._reply(404, {"error": "not_found", "detail": "Not found."})

        def do_POST(self) -> None:
            if self.path.startswith("/echo"):
                self._echo()
                return
            body = json.loads(self._body() or b"{}")
            created = {"id": str(uuid.uuid4()), **body}
            self._reply(201, created, self._dry_run_headers())

        do_PUT = do_POST

    return Handler


def serve(port: int, variant: str) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(variant))
    server.serve_forever()


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2])

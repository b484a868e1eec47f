"""`strangler routes` as a user runs it: a subprocess, its exit code, its output, the file."""

from __future__ import annotations

import getpass
import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from proxy.config import Record, load_route_table
from proxy.config_edit import read_audit
from proxy.sticky import bucket_of
from tests.proxy.harness import Echo, route, routes_yaml, running_proxy, upstream
from tests.support.ports import free_port
from tests.support.processes import REPO_ROOT, VENV_BIN
from tests.support.waiting import wait_for


def table_text(
    monolith_url: str = "http://127.0.0.1:1", inventory_url: str = "http://127.0.0.1:2"
) -> str:
    return routes_yaml(
        {"monolith": upstream(monolith_url), "inventory": upstream(inventory_url)},
        [
            route(
                "inventory-reads",
                match={"path_prefix": "/api/inventory/", "methods": ["GET", "HEAD"]},
                target="inventory",
                sticky="header:X-Client-Id",
                fallback="monolith",
            ),
            route(
                "inventory-writes",
                match={"path_prefix": "/api/inventory/", "methods": ["POST"]},
                target="inventory",
            ),
        ],
    )


@pytest.fixture
def routes_file(tmp_path: Path) -> Path:
    path = tmp_path / "routes.yaml"
    path.write_text(table_text())
    return path


def strangler(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / "strangler"), "routes", *args],
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_list_and_show(routes_file: Path) -> None:
    listed = strangler("list", "--file", str(routes_file))
    assert listed.returncode == 0, listed.stderr
    assert "inventory-reads" in listed.stdout and "inventory-writes" in listed.stdout
    shown = strangler("show", "inventory-reads", "--file", str(routes_file))
    assert shown.returncode == 0
    assert "header:X-Client-Id" in shown.stdout and "http://127.0.0.1:2" in shown.stdout
    # Every compare rule is shown, the header allow-list and tolerances included.
    assert "headers=['content-type', 'location']" in shown.stdout
    assert "tolerance={}" in shown.stdout and "timestamp_precision=None" in shown.stdout
    missing = strangler("show", "nope", "--file", str(routes_file))
    assert missing.returncode == 1 and "nope" in one_line_error(missing)


def test_show_names_header_matches_read_your_writes_and_sync(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(
        routes_yaml(
            {
                "monolith": upstream("http://127.0.0.1:1"),
                "orders": upstream("http://127.0.0.1:3", sync="to_monolith", retry={"attempts": 0}),
            },
            [
                route(
                    "beta",
                    match={"path_pattern": "/api/orders/{id}/", "headers": {"X-Beta": "1"}},
                    mode="extracted",
                    target="orders",
                    read_your_writes={"window_s": 2.5, "group": "orders"},
                )
            ],
        )
    )
    shown = strangler("show", "beta", "--file", str(path))
    assert shown.returncode == 0, shown.stderr
    assert "any ~ /api/orders/{id}/ [X-Beta: 1]" in shown.stdout
    assert "sync to_monolith, retries 0" in shown.stdout
    assert "ryw       group orders, window 2.5s" in shown.stdout


def test_file_comes_from_the_environment(routes_file: Path) -> None:
    listed = strangler("list", env={"PROXY_ROUTES_FILE": str(routes_file)})
    assert listed.returncode == 0 and "inventory-writes" in listed.stdout
    absent = strangler("list", env={"PROXY_ROUTES_FILE": str(routes_file.with_name("absent.yaml"))})
    assert absent.returncode == 1 and "cannot read" in one_line_error(absent)


def test_set_writes_through_config_edit(routes_file: Path) -> None:
    done = strangler(
        "set", "inventory-reads", "--mode", "canary", "--percent", "25", "--file", str(routes_file)
    )
    assert done.returncode == 0, done.stderr
    assert "canary" in done.stdout
    text = routes_file.read_text()
    assert "mode: canary" in text and "percent: 25" in text
    assert text.startswith("# route file written by a test")  # comments survive
    (record,) = read_audit(routes_file)
    assert record["actor"] == getpass.getuser()
    assert record["after"] == {"mode": "canary", "percent": 25}
    removed = strangler("set", "inventory-reads", "--fallback", "none", "--file", str(routes_file))
    assert removed.returncode == 0 and "fallback" not in routes_file.read_text()


def test_set_turns_recording_on_and_off(routes_file: Path) -> None:
    on = strangler(
        "set", "inventory-reads", "--record", "5", "--record-max", "10", "--file", str(routes_file)
    )
    assert on.returncode == 0, on.stderr
    assert load_route_table(routes_file).route("inventory-reads").record == Record(
        percent=5, max_requests=10
    )
    off = strangler("set", "inventory-reads", "--record", "0", "--file", str(routes_file))
    assert off.returncode == 0, off.stderr
    assert load_route_table(routes_file).route("inventory-reads").record is None
    assert [r["after"] for r in read_audit(routes_file, limit=2)] == [
        {"record": None},
        {"record": {"percent": 5, "max_requests": 10}},
    ]


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["inventory-reads", "--record", "150"], 1),
        (["inventory-reads", "--record", "5", "--record-max", "0"], 2),
        (["inventory-reads", "--mode", "canary", "--percent", "150"], 1),
        (["inventory-reads", "--target", "nowhere"], 1),
        (["inventory-reads", "--mode", "canary", "--sticky", "ip"], 1),
        (["no-such-route", "--mode", "shadow"], 1),
        (["inventory-reads", "--mode", "sideways"], 2),
        (["inventory-reads"], 2),
        (["inventory-reads", "--percent", "lots"], 2),
    ],
)
def test_set_refuses_bad_input_and_leaves_the_file(
    routes_file: Path, args: list[str], code: int
) -> None:
    original = routes_file.read_bytes()
    done = strangler("set", *args, "--file", str(routes_file))
    assert done.returncode == code, done.stdout + done.stderr
    if code == 1:
        one_line_error(done)
    assert routes_file.read_bytes() == original
    assert read_audit(routes_file) == []


def test_set_refuses_options_the_resulting_mode_ignores(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(
        routes_yaml(
            {
                "monolith": upstream("http://127.0.0.1:1"),
                "inventory": upstream("http://127.0.0.1:2"),
            },
            [
                route("held", match={"path_prefix": "/api/held/"}),
                route(
                    "shadowed", match={"path_prefix": "/api/s/"}, mode="shadow", target="inventory"
                ),
                route(
                    "pinned",
                    match={"path_prefix": "/api/p/"},
                    target="inventory",
                    read_your_writes={"window_s": 2},
                ),
            ],
        )
    )
    original = path.read_bytes()
    for args, words in [
        (["held", "--mode", "monolith", "--percent", "30"], "--percent is the canary share"),
        (["shadowed", "--percent", "30"], "not for mode shadow (the route's mode now)"),
        (["shadowed", "--mode", "extracted", "--percent", "30"], "not for mode extracted"),
        (["shadowed", "--sticky", "jwt:sub"], "--sticky picks a canary's bucket"),
        (["shadowed", "--fallback", "monolith"], "--fallback takes the requests the target"),
        (["held", "--record", "5"], "held has none: give --target"),
        (["shadowed", "--record-max", "5"], "--record-max goes with --record above 0"),
        (["shadowed", "--record", "0", "--record-max", "5"], "--record-max goes with --record"),
    ]:
        done = strangler("set", *args, "--file", str(path))
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        line = one_line_error(done)
        assert line.startswith("strangler routes: refused, file unchanged: ") and words in line
        assert path.read_bytes() == original and read_audit(path) == []

    # Each option where the resulting route uses it (no proxy to tell: its admin port is closed).
    no_proxy = {"STRANGLER_PROXY_ADMIN_URL": f"http://127.0.0.1:{free_port()}"}
    for args in (
        ["shadowed", "--mode", "canary", "--percent", "30", "--sticky", "jwt:sub"],
        ["shadowed", "--mode", "extracted", "--fallback", "monolith"],
        ["pinned", "--sticky", "header:X-Client-Id"],  # read-your-writes keys on it
        ["held", "--target", "inventory", "--record", "5", "--record-max", "7"],
    ):
        done = strangler("set", *args, "--file", str(path), env=no_proxy)
        assert done.returncode == 0, (args, done.stderr)
    table = load_route_table(path)
    assert table.route("shadowed").mode == "extracted" and table.route("shadowed").percent == 30
    assert table.route("pinned").sticky == "header:X-Client-Id"
    assert table.route("held").record == Record(percent=5, max_requests=7)


def test_explain(routes_file: Path) -> None:
    strangler(
        "set", "inventory-reads", "--mode", "canary", "--percent", "40", "--file", str(routes_file)
    )
    done = strangler(
        "explain", "GET", "/api/inventory/products/", "--key", "k-1", "--file", str(routes_file)
    )
    assert done.returncode == 0, done.stderr
    bucket = bucket_of("inventory-reads", "k-1")
    upstream_name = "inventory" if bucket < 4000 else "monolith"
    assert f"bucket    {bucket} of 10000" in done.stdout
    assert f"upstream  {upstream_name}" in done.stdout
    assert "inventory-reads" in done.stdout and "canary" in done.stdout

    by_header = strangler(
        "explain",
        "GET",
        "/api/inventory/products/",
        "--header",
        "X-Client-Id: k-1",
        "--file",
        str(routes_file),
    )
    assert f"bucket    {bucket} of 10000" in by_header.stdout

    internal = strangler("explain", "GET", "/internal/outbox/stats", "--file", str(routes_file))
    assert "404" in internal.stdout and "internal" in internal.stdout
    write = strangler("explain", "POST", "/api/inventory/products/", "--file", str(routes_file))
    assert "inventory-writes" in write.stdout and "upstream  monolith" in write.stdout
    bad = strangler("explain", "GET", "/x", "--header", "no colon", "--file", str(routes_file))
    assert bad.returncode == 2


def test_explain_shows_the_routes_considered_and_the_breaker(
    tmp_path: Path, monolith: Echo, inventory: Echo
) -> None:
    text = table_text(monolith.url, inventory.url).replace(
        "routes:\n",
        "routes:\n- name: cancel\n  match: {path_pattern: '/api/inventory/{sku}/cancel/'}\n"
        "  mode: extracted\n  target: inventory\n  fallback: monolith\n",
    )
    args = ("explain", "GET", "/api/inventory/SKU-1/cancel/", "--file")
    with running_proxy(tmp_path, text) as proxy:
        env = {"STRANGLER_PROXY_ADMIN_URL": proxy.admin_url, "PROXY_ADMIN_TOKEN": proxy.token}
        live = strangler(*args, str(proxy.routes_file), env=env)
        assert live.returncode == 0, live.stderr
        assert "route     cancel" in live.stdout and "upstream  inventory" in live.stdout
        assert f"breaker   inventory: closed (running proxy at {proxy.admin_url})" in live.stdout
        assert "cancel" in live.stdout.split("considered (in precedence order):")[1]

        other = strangler("explain", "POST", "/api/inventory/x/", "--file", str(proxy.routes_file))
        considered = other.stdout.split("considered (in precedence order):")[1].splitlines()
        assert [line.split()[0] for line in considered if line.strip()] == [
            "cancel",
            "inventory-reads",
            "inventory-writes",
        ]
        assert "path does not fit the pattern" in considered[1]
        assert "method POST is not one of GET, HEAD" in considered[2]
        assert considered[3].rstrip().endswith("matched")
    down = strangler(*args, str(proxy.routes_file), env=env)
    assert down.returncode == 0, down.stderr
    assert "breaker   inventory: unknown (no proxy admin API answers" in down.stdout


def test_lint(routes_file: Path, tmp_path: Path) -> None:
    clean = strangler("lint", str(routes_file))
    assert clean.returncode == 0 and "0 error(s)" in clean.stdout
    hidden = tmp_path / "hidden.yaml"
    hidden.write_text(
        routes_yaml(
            {
                "monolith": upstream("http://127.0.0.1:1"),
                "inventory": upstream("http://127.0.0.1:2"),
            },
            [
                route("first", match={"path_prefix": "/api/"}),
                route("second", match={"path_prefix": "/api/", "methods": ["GET"]}),
                route(
                    "full",
                    match={"path_prefix": "/b/"},
                    mode="canary",
                    target="inventory",
                    percent=100,
                ),
            ],
        )
    )
    found = strangler("lint", str(hidden))
    assert found.returncode == 1
    assert "never match" in found.stdout and "mode extracted" in found.stdout
    broken = tmp_path / "broken.yaml"
    broken.write_text("routes: [")
    assert strangler("lint", str(broken)).returncode == 1


def test_set_reaches_a_running_proxy_and_mismatches_reads_the_admin_api(
    tmp_path: Path, monolith: Echo, inventory: Echo
) -> None:
    with running_proxy(tmp_path, table_text(monolith.url, inventory.url)) as proxy:
        env = {
            "PROXY_ROUTES_FILE": str(proxy.routes_file),
            "STRANGLER_PROXY_ADMIN_URL": proxy.admin_url,
            "PROXY_ADMIN_TOKEN": proxy.token,
        }
        assert strangler("set", "inventory-reads", "--mode", "shadow", env=env).returncode == 0
        wait_for(
            lambda: (
                httpx.get(f"{proxy.url}/api/inventory/x/").status_code == 200
                and proxy.stats("inventory-reads")["shadow"]["mismatched"] >= 1
            ),
            message="the proxy to shadow after `strangler routes set`",
        )
        wait_for(lambda: proxy.admin_json("/admin/mismatches")["count"] >= 1, message="stored")
        listed = strangler("mismatches", "--route", "inventory-reads", "--limit", "5", env=env)
        assert listed.returncode == 0, listed.stderr
        assert "GET /api/inventory/x/" in listed.stdout and "$.upstream" in listed.stdout
        assert "unknown" in listed.stdout  # the sync lag: no source configured

        as_json = strangler(
            "mismatches", "--json", "--status", "200:200", "--path", "/inventory/x", env=env
        )
        assert as_json.returncode == 0, as_json.stderr
        body = json.loads(as_json.stdout)
        assert body["count"] >= 1 and body["results"][0]["path"] == "/api/inventory/x/"
        none = strangler("mismatches", "--json", "--status", "*:500", env=env)
        assert json.loads(none.stdout)["count"] == 0
        # A route the file does not name: refused before the admin API is asked.
        unknown = strangler("mismatches", "--route", "nope", env=env)
        assert unknown.returncode == 1
        assert one_line_error(unknown) == (
            f"strangler routes: no route named 'nope' in {proxy.routes_file}"
        )
        bad = strangler("mismatches", "--status", "two hundred", env=env)
        assert bad.returncode == 1 and "status is EXPECTED:ACTUAL" in one_line_error(bad)

        # The token from $STRANGLER_VAR_DIR/admin-token when PROXY_ADMIN_TOKEN is not set.
        (tmp_path / "admin-token").write_text(proxy.token + "\n")
        from_file = strangler(
            "mismatches",
            env={**env, "PROXY_ADMIN_TOKEN": "", "STRANGLER_VAR_DIR": str(tmp_path)},
        )
        assert from_file.returncode == 0, from_file.stderr

        refused = strangler("mismatches", env={**env, "PROXY_ADMIN_TOKEN": "wrong"})
        assert refused.returncode == 1 and "refused" in one_line_error(refused)
    down = strangler("mismatches", env=env)
    assert down.returncode == 1 and "cannot reach" in one_line_error(down)


def test_set_returns_once_the_running_proxy_serves_the_change(
    tmp_path: Path, monolith: Echo, inventory: Echo
) -> None:
    # A slow poll makes the difference visible: the command must wait for the reload.
    with running_proxy(
        tmp_path, table_text(monolith.url, inventory.url), PROXY_RELOAD_INTERVAL_S="1.5"
    ) as proxy:
        env = {
            "PROXY_ROUTES_FILE": str(proxy.routes_file),
            "STRANGLER_PROXY_ADMIN_URL": proxy.admin_url,
            "PROXY_ADMIN_TOKEN": proxy.token,
        }
        done = strangler("set", "inventory-reads", "--mode", "extracted", env=env)
        assert done.returncode == 0, done.stderr
        assert "live: the proxy" in done.stdout
        # No waiting here: the very next request meets the new table.
        answer = httpx.get(f"{proxy.url}/api/inventory/x/", timeout=5)
        assert answer.headers["X-Strangler-Upstream"] == "inventory"

    offline = strangler("set", "inventory-reads", "--mode", "monolith", env=env)
    assert offline.returncode == 0, offline.stderr
    assert "a proxy loads it when it starts" in offline.stdout


def test_unknown_route_names_are_refused_without_a_proxy(routes_file: Path) -> None:
    # No admin API answers here: the route table alone refuses the name.
    for args in (
        ["mismatches", "--route", "nope"],
        ["show", "nope"],
        ["set", "nope", "--mode", "shadow"],
    ):
        done = strangler(*args, "--file", str(routes_file))
        assert done.returncode == 1, args
        assert one_line_error(done) == f"strangler routes: no route named 'nope' in {routes_file}"


def bracketed_table(tmp_path: Path) -> Path:
    """Routes whose match texts hold [...] that Rich would take for markup tags."""
    path = tmp_path / "bracketed.yaml"
    path.write_text(
        routes_yaml(
            {
                "monolith": upstream("http://127.0.0.1:1"),
                "inventory": upstream("http://127.0.0.1:2"),
            },
            [
                route("first", match={"path_prefix": "/api/"}),
                route("legacy", match={"path_prefix": "/internal/[legacy]/", "methods": ["GET"]}),
                route(
                    "beta",
                    match={"path_prefix": "/beta/", "headers": {"x-beta": "1"}},
                    mode="extracted",
                    target="inventory",
                ),
            ],
        )
    )
    return path


def test_data_in_brackets_prints_literally(tmp_path: Path) -> None:
    path = bracketed_table(tmp_path)
    linted = strangler("lint", str(path))
    assert linted.returncode == 1
    assert "'/internal/[legacy]/' is under /internal/" in linted.stdout
    listed = strangler("list", "--file", str(path))
    assert listed.returncode == 0, listed.stderr
    assert (
        "GET /internal/[legacy]/*" in listed.stdout and "any /beta/* [x-beta: 1]" in listed.stdout
    )
    shown = strangler("show", "beta", "--file", str(path))
    assert "any /beta/* [x-beta: 1]" in shown.stdout
    explained = strangler("explain", "GET", "/beta/x", "--header", "x-beta: 1", "--file", str(path))
    assert "[x-beta: 1]" in explained.stdout


def test_list_and_lint_as_json(tmp_path: Path) -> None:
    path = bracketed_table(tmp_path)
    listed = strangler("list", "--json", "--file", str(path))
    assert listed.returncode == 0, listed.stderr
    body = json.loads(listed.stdout)
    assert body["file"] == str(path) and body["digest"] == load_route_table(path).digest
    assert [r["name"] for r in body["routes"]] == ["first", "legacy", "beta"]
    assert body["routes"][2] == {
        "name": "beta",
        "match": {
            "kind": "path_prefix",
            "rule": "/beta/",
            "methods": [],
            "headers": {"x-beta": "1"},
        },
        "mode": "extracted",
        "percent": None,
        "target": "inventory",
        "sticky": None,
        "fallback": None,
    }
    linted = strangler("lint", "--json", str(path))
    assert linted.returncode == 1
    findings = json.loads(linted.stdout)
    assert findings["errors"] == 1 and findings["file"] == str(path)
    assert {"severity": "error", "route": "legacy"}.items() <= findings["findings"][0].items()
    assert "'/internal/[legacy]/'" in findings["findings"][0]["message"]


def test_tables_keep_their_width_in_a_pipe(tmp_path: Path) -> None:
    path = tmp_path / "long.yaml"
    rule = "/api/inventory/" + "/".join(f"segment-{n}" for n in range(12)) + "/"
    path.write_text(
        routes_yaml(
            {"monolith": upstream("http://127.0.0.1:1")},
            [route("a-route-with-a-long-name-to-widen-the-table", match={"path_prefix": rule})],
        )
    )
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    done = subprocess.run(
        [str(VENV_BIN / "strangler"), "routes", "list", "--file", str(path)],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    (row,) = [line for line in done.stdout.splitlines() if "a-route-with-a-long-name" in line]
    assert f"any {rule}*" in row and len(row) > 120
    assert max(len(line) for line in done.stdout.splitlines()) == len(row)

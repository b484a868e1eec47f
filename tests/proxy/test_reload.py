"""Start-up and hot reload of the route file, on a real proxy process."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from proxy.atomic_file import write_atomically
from tests.proxy.harness import (
    Echo,
    echo_upstream,
    proxy_env,
    route,
    routes_yaml,
    running_proxy,
    upstream,
)
from tests.support.components import process_spec
from tests.support.processes import REPO_ROOT
from tests.support.waiting import wait_for


def table_text(monolith: Echo, inventory: Echo, mode: str) -> str:
    return routes_yaml(
        {"monolith": upstream(monolith.url), "inventory": upstream(inventory.url)},
        [route("reads", mode=mode, target="inventory")],
    )


def served_by(url: str) -> str:
    return httpx.get(f"{url}/api/x/").headers["X-Strangler-Upstream"]


def test_valid_change_is_picked_up(tmp_path: Path, monolith: Echo, inventory: Echo) -> None:
    with running_proxy(tmp_path, table_text(monolith, inventory, "monolith")) as proxy:
        assert served_by(proxy.url) == "monolith"
        before = proxy.admin_json("/admin/routes")
        write_atomically(proxy.routes_file, table_text(monolith, inventory, "extracted"))
        wait_for(lambda: served_by(proxy.url) == "inventory", message="the new table")
        after = proxy.admin_json("/admin/routes")
        assert after["digest"] != before["digest"]
        assert after["loaded_at"] > before["loaded_at"]
        assert after["routes"][0]["mode"] == "extracted"
        assert after["last_error"] is None


def test_in_place_edit_is_picked_up(tmp_path: Path, monolith: Echo, inventory: Echo) -> None:
    with running_proxy(tmp_path, table_text(monolith, inventory, "monolith")) as proxy:
        # Same size, written in place (not renamed): the digest check notices it.
        text = table_text(monolith, inventory, "monolith").replace(
            "mode: monolith", "mode: shadow__"
        )
        proxy.routes_file.write_text(text.replace("shadow__", "shadow"))
        wait_for(
            lambda: proxy.admin_json("/admin/routes")["routes"][0]["mode"] == "shadow",
            message="the in-place edit",
        )


def test_invalid_change_is_refused_and_last_table_keeps_serving(
    tmp_path: Path, monolith: Echo, inventory: Echo
) -> None:
    with running_proxy(tmp_path, table_text(monolith, inventory, "extracted")) as proxy:
        good = proxy.admin_json("/admin/routes")
        broken = table_text(monolith, inventory, "extracted").replace("extracted", "sideways")
        write_atomically(proxy.routes_file, broken)
        state = wait_for(
            lambda: (r := proxy.admin_json("/admin/routes"))["last_error"] and r,
            message="the refusal",
        )
        assert "sideways" in state["last_error"] or "mode" in state["last_error"]
        assert state["digest"] == good["digest"]
        assert [served_by(proxy.url) for _ in range(5)] == ["inventory"] * 5
        assert "refused" in proxy.process.log_tail(200)

        write_atomically(proxy.routes_file, "upstreams: [not, a, mapping")  # not even YAML
        wait_for(
            lambda: "YAML" in (proxy.admin_json("/admin/routes")["last_error"] or ""),
            message="the YAML error",
        )
        assert served_by(proxy.url) == "inventory"

        write_atomically(proxy.routes_file, table_text(monolith, inventory, "monolith"))
        wait_for(lambda: served_by(proxy.url) == "monolith", message="the fixed file")
        assert proxy.admin_json("/admin/routes")["last_error"] is None


def test_invalid_file_at_start_exits_2_with_one_line(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text("upstreams:\n  inventory: {url: http://127.0.0.1:1}\nroutes: []\n")
    done = subprocess.run(
        process_spec("proxy").argv,
        env={**os.environ, **proxy_env(tmp_path, routes)},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "monolith" in lines[0]


def test_missing_file_is_copied_from_the_template(
    tmp_path: Path, monolith: Echo, inventory: Echo
) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(table_text(monolith, inventory, "extracted"))
    var = tmp_path / "var"
    var.mkdir()
    with running_proxy(var, None, PROXY_ROUTES_TEMPLATE=str(template)) as proxy:
        assert proxy.routes_file.read_text() == template.read_text()
        assert served_by(proxy.url) == "inventory"


def test_default_template_is_the_shipped_one(tmp_path: Path) -> None:
    with running_proxy(tmp_path, None) as proxy:
        shipped = (REPO_ROOT / "proxy" / "routes.default.yaml").read_text()
        assert proxy.routes_file.read_text() == shipped
        names = [r["name"] for r in proxy.admin_json("/admin/routes")["routes"]]
        assert names == [
            "inventory-reads",
            "inventory-writes",
            "payments-reads",
            "payments-writes",
            "orders-reads",
            "orders-writes",
            "auth",
            "api-schema",
        ]


def test_bad_settings_exit_2_with_one_line(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(table_text_static())
    done = subprocess.run(
        process_spec("proxy").argv,
        env={**os.environ, **proxy_env(tmp_path, routes), "PROXY_LISTEN": "no-port-here"},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "HOST:PORT" in line


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stops_cleanly_on_a_signal(tmp_path: Path, sig: signal.Signals) -> None:
    with running_proxy(tmp_path, table_text_static()) as proxy:
        assert proxy.process.proc is not None
        proxy.process.proc.send_signal(sig)
        assert proxy.process.proc.wait(timeout=20) == 0
        assert "proxy: stopping" in proxy.process.log_tail()
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{proxy.admin_url}/health")


def table_text_static() -> str:
    return routes_yaml({"monolith": upstream("http://127.0.0.1:1")}, [])


def test_requests_never_see_a_mixed_table(tmp_path: Path, monolith: Echo, inventory: Echo) -> None:
    """While the file flips between two tables, every answer comes from one of them whole."""
    ups = {"monolith": upstream(monolith.url), "inventory": upstream(inventory.url)}
    tables = {
        "alpha": routes_yaml(ups, [route("alpha", mode="monolith", target="inventory")]),
        "beta": routes_yaml(ups, [route("beta", mode="extracted", target="inventory")]),
    }
    allowed = {("alpha", "monolith"), ("beta", "inventory")}
    with running_proxy(tmp_path, tables["alpha"]) as proxy:
        seen: set[tuple[str, str]] = set()
        with httpx.Client(base_url=proxy.url) as client:
            for flip in range(12):
                name = "beta" if flip % 2 == 0 else "alpha"
                write_atomically(proxy.routes_file, tables[name])

                def answered_by_new_table(expected: str = name) -> bool:
                    resp = client.get("/api/x/")
                    pair = (resp.headers["X-Strangler-Route"], resp.headers["X-Strangler-Upstream"])
                    seen.add(pair)  # checked below: wait_for treats a raised error as "not yet"
                    return pair[0] == expected

                wait_for(answered_by_new_table, message=f"table {name}")
        assert seen == allowed  # both tables served, and never a mix of the two


@dataclass(frozen=True)
class Served:
    started: float
    ended: float
    status: int
    route: str
    header_upstream: str
    body_upstream: str


@pytest.mark.slow
def test_a_thousand_flag_flips_under_load_fail_nothing_and_never_mix_tables(
    tmp_path: Path, monolith: Echo, inventory: Echo
) -> None:
    """The admin API flips one route between two targets 1,000 times while clients read.

    Every answer: 200, from an upstream one of the two tables names, and the upstream that
    really answered (the echo's body) is the one the header names. After each flip returns,
    the next request is served by the new table."""
    with echo_upstream("payments", tmp_path / "logs") as payments:
        ups = {
            "monolith": upstream(monolith.url),
            "inventory": upstream(inventory.url),
            "payments": upstream(payments.url),
        }
        text = routes_yaml(ups, [route("flip", mode="extracted", target="inventory")])
        with running_proxy(tmp_path, text) as proxy:
            served: list[Served] = []
            stop = threading.Event()

            def reader() -> None:
                with httpx.Client(base_url=proxy.url, timeout=10) as client:
                    while not stop.is_set():
                        started = time.perf_counter()
                        try:
                            resp = client.get("/api/flip/")
                            body = resp.json()["upstream"] if resp.status_code == 200 else "-"
                            record = Served(
                                started,
                                time.perf_counter(),
                                resp.status_code,
                                resp.headers.get("X-Strangler-Route", "-"),
                                resp.headers.get("X-Strangler-Upstream", "-"),
                                body,
                            )
                        except httpx.HTTPError as err:
                            record = Served(started, time.perf_counter(), 0, "-", "-", repr(err))
                        served.append(record)

            flips: list[tuple[float, float, str]] = []  # (sent, answered, target now served)
            threads = [threading.Thread(target=reader) for _ in range(3)]
            for thread in threads:
                thread.start()
            try:
                with (
                    httpx.Client(
                        base_url=proxy.admin_url,
                        headers={"Authorization": f"Bearer {proxy.token}"},
                        timeout=10,
                    ) as admin,
                    httpx.Client(base_url=proxy.url, timeout=10) as client,
                ):
                    for n in range(1000):
                        target = "payments" if n % 2 == 0 else "inventory"
                        sent = time.perf_counter()
                        resp = admin.patch("/admin/routes/flip", json={"target": target})
                        assert resp.status_code == 200, resp.text
                        assert resp.json()["route"]["target"] == target
                        flips.append((sent, time.perf_counter(), target))
                        # The flip is live once the PATCH returns: the next request meets it.
                        after = client.get("/api/flip/")
                        assert after.headers["X-Strangler-Upstream"] == target
            finally:
                stop.set()
                for thread in threads:
                    thread.join()

    failed = [s for s in served if s.status != 200]
    assert failed == [], f"{len(failed)} of {len(served)} failed: {failed[:3]}"
    assert {(s.route, s.header_upstream) for s in served} <= {
        ("flip", "inventory"),
        ("flip", "payments"),
    }
    assert all(s.header_upstream == s.body_upstream for s in served)
    # A request that started after flip i answered and ended before flip i+1 was sent saw
    # table i (the readers rarely fit in so short a window; each that does is checked).
    windows = [(flips[i][1], flips[i + 1][0], flips[i][2]) for i in range(len(flips) - 1)]
    for s in served:
        for opened, closed, target in windows:
            if opened <= s.started and s.ended <= closed:
                assert s.header_upstream == target, "a request saw a table that was not serving"
    assert len(served) > 1000 and {s.header_upstream for s in served} == {"inventory", "payments"}

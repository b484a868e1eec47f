"""The monolith as a real server (the gunicorn command `strangler up` runs), over real sockets:
on the embedded SQLite default, and with a database that does not answer."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import components
from tests.support.callers import stack_staff_headers
from tests.support.processes import REPO_ROOT, ServerProcess
from tests.support.random_refs import random_suffix
from tests.support.waiting import wait_for


def _embedded_env(var_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["STRANGLER_VAR_DIR"] = str(var_dir)
    return env


def _manage(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "monolith/manage.py", *argv],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _monolith(env: dict[str, str], log_dir: Path) -> tuple[ServerProcess, str]:
    ports = components.free_ports()
    monolith = components.server("monolith", ports=ports, env=env, log_dir=log_dir)
    return monolith, f"http://127.0.0.1:{ports.monolith}"


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ServerProcess, Path]]:
    """Migrated, seeded and serving on the SQLite default in a scratch var dir."""
    var_dir = tmp_path_factory.mktemp("embedded") / "var"
    env = _embedded_env(var_dir)
    for argv in (("migrate", "--noinput"), ("seed_inventory", "--products", "20")):
        done = _manage(env, *argv)
        assert done.returncode == 0, done.stdout + done.stderr
    server, url = _monolith(env, var_dir.parent)
    with server:
        server.wait_http_ok(f"{url}/health/ready")
        yield url, server, var_dir


def test_the_default_database_is_a_sqlite_file_in_the_var_dir(
    embedded: tuple[str, ServerProcess, Path],
) -> None:
    url, _, var_dir = embedded

    listing = httpx.get(f"{url}/api/inventory/products/?page_size=5", timeout=10)

    assert (var_dir / "monolith.sqlite3").is_file()
    assert listing.status_code == 200
    assert listing.json()["count"] >= 20
    assert listing.json()["next"] == f"{url}/api/inventory/products/?page=2&page_size=5"


def test_a_retired_capabilitys_tables_refuse_writes_in_the_sqlite_file_too(
    embedded: tuple[str, ServerProcess, Path],
) -> None:
    """The triggers of ``reverse_sync`` migration 0003 on SQLite: a write by hand to a retired
    capability's table is aborted, reads go on, and the API answers 503. The direction is set
    in SQL here (the owners' rules are tested through their API elsewhere) and put back after,
    for the module's other tests."""
    url, _, var_dir = embedded
    db = sqlite3.connect(var_dir / "monolith.sqlite3", timeout=10)
    direction = "UPDATE reverse_sync_capabilitydirection SET direction = ? WHERE capability = ?"
    try:
        with db:
            db.execute(direction, ("retired", "inventory"))
        with pytest.raises(sqlite3.DatabaseError, match="inventory is retired"), db:
            db.execute("UPDATE inventory_product SET on_hand = on_hand + 1")
        with pytest.raises(sqlite3.DatabaseError, match="inventory is retired"), db:
            db.execute("DELETE FROM inventory_reservation")  # no rows: no row trigger fires
            db.execute("DELETE FROM inventory_product WHERE sku = 'SKU-00001'")
        product = f"{url}/api/inventory/products/SKU-00001/"
        before = httpx.get(product, timeout=10).json()["on_hand"]
        adjustment = {"delta": 1, "reason": "restock"}
        staff = stack_staff_headers(_embedded_env(var_dir))
        refused = httpx.post(f"{product}adjustments/", json=adjustment, headers=staff, timeout=10)
        assert refused.status_code == 503
        assert httpx.get(product, timeout=10).json()["on_hand"] == before
    finally:
        with db:
            db.execute(direction, ("forward", "inventory"))
        db.close()


def test_head_has_the_headers_of_get_and_no_body(embedded: tuple[str, ServerProcess, Path]) -> None:
    url, _, _ = embedded

    get = httpx.get(f"{url}/api/inventory/products/SKU-00001/", timeout=10)
    head = httpx.head(f"{url}/api/inventory/products/SKU-00001/", timeout=10)

    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert head.headers["Content-Type"] == "application/json"
    assert head.headers["Content-Length"] == str(len(get.content))


def test_the_request_id_is_echoed_and_in_the_json_log(
    embedded: tuple[str, ServerProcess, Path],
) -> None:
    url, server, _ = embedded
    request_id = f"test-{random_suffix()}"

    resp = httpx.get(f"{url}/api/inventory/products/NOPE/", headers={"X-Request-Id": request_id})

    assert resp.status_code == 404
    assert resp.headers["X-Request-Id"] == request_id

    def logged() -> dict[str, object] | None:
        for line in server.log_path.read_text().splitlines():
            if line.startswith("{") and request_id in line:
                return dict(json.loads(line))
        return None

    record = wait_for(logged, timeout=10, message="the 404 to be logged with its request id")
    assert record is not None
    assert record["request_id"] == request_id
    assert record["level"] == "WARNING"


def test_concurrent_writes_across_workers_all_land_on_sqlite(
    embedded: tuple[str, ServerProcess, Path],
) -> None:
    """Two gunicorn workers x threads write the same row at once: WAL, the busy timeout and
    IMMEDIATE transactions make them queue instead of failing with "database is locked"."""
    url, _, var_dir = embedded
    staff = stack_staff_headers(_embedded_env(var_dir))
    sku = f"SQ-{random_suffix()}"
    created = httpx.post(
        f"{url}/api/inventory/products/",
        json={"sku": sku, "name": "Queue", "price": "1.00", "on_hand": 0},
        headers=staff,
        timeout=10,
    )
    assert created.status_code == 201, created.text
    statuses: list[int] = []
    lock = threading.Lock()

    def adjust() -> None:
        with httpx.Client(timeout=60, headers=staff) as client:
            for _ in range(5):
                resp = client.post(
                    f"{url}/api/inventory/products/{sku}/adjustments/",
                    json={"delta": 1, "reason": "concurrency"},
                )
                with lock:
                    statuses.append(resp.status_code)

    threads = [threading.Thread(target=adjust) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert statuses == [200] * 30
    final = httpx.get(f"{url}/api/inventory/products/{sku}/", timeout=10).json()
    assert (final["on_hand"], final["version"]) == (30, 31)
    stats = httpx.get(f"{url}/internal/outbox/stats", timeout=10).json()
    assert stats["pending"] == stats["total"] >= 20 + 31


def test_a_dry_run_through_the_real_server_persists_nothing(
    embedded: tuple[str, ServerProcess, Path],
) -> None:
    url, _, var_dir = embedded
    sku = f"DRY-{random_suffix()}"
    before = httpx.get(f"{url}/internal/outbox/stats", timeout=10).json()["total"]

    resp = httpx.post(
        f"{url}/api/inventory/products/",
        json={"sku": sku, "name": "Shadow", "price": "2.00"},
        headers={"X-Strangler-Dry-Run": "1", **stack_staff_headers(_embedded_env(var_dir))},
        timeout=10,
    )

    assert resp.status_code == 201
    assert resp.headers["X-Strangler-Dry-Run"] == "rolled-back"
    assert httpx.get(f"{url}/api/inventory/products/{sku}/", timeout=10).status_code == 404
    assert httpx.get(f"{url}/internal/outbox/stats", timeout=10).json()["total"] == before


def test_ready_is_503_while_the_database_does_not_answer(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "STRANGLER_VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/sf_missing_{random_suffix()}",
    }
    server, url = _monolith(env, tmp_path)
    with server:
        server.wait_http_ok(f"{url}/health/live")

        ready = httpx.get(f"{url}/health/ready", timeout=10)

    assert ready.status_code == 503
    body = ready.json()
    assert list(body) == ["status", "detail"]
    assert body["status"] == "unavailable"
    assert body["detail"].startswith("database: ")
    assert "\n" not in body["detail"]


def test_the_access_log_leaves_out_successful_polls_only(
    embedded: tuple[str, ServerProcess, Path],
) -> None:
    url, server, _ = embedded
    marker = random_suffix()
    polls = [f"/health/ready?{marker}", f"/internal/outbox/stats?{marker}", f"/metrics?{marker}"]
    for path in polls:
        assert httpx.get(f"{url}{path}").status_code == 200, path
    failed_poll = f"/health/nope?{marker}"
    assert httpx.get(f"{url}{failed_poll}").status_code == 404
    read = f"/api/inventory/products/?{marker}"
    assert httpx.get(f"{url}{read}").status_code == 200

    def access_lines() -> list[str] | None:
        lines = [line for line in server.log_path.read_text().splitlines() if marker in line]
        return lines if any(read in line for line in lines) else None

    lines = wait_for(access_lines, timeout=10, message="the read in the access log") or []
    logged = {path for path in [*polls, failed_poll, read] if any(path in li for li in lines)}
    assert logged == {failed_poll, read}

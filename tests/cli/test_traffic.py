"""`strangler traffic`: bounded workshop traffic through a real proxy in front of a real monolith,
judged by kind; a freeze window (503 + Retry-After) waited out, not failed."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from contracts.sync_token import bearer
from strangler.stack import Ports, stack_environment, write_routes_file
from strangler.traffic import Mix, MixError, RequestMaker, Tally, Workload, run_traffic
from tests.support.callers import caller_token, stack_keys
from tests.support.components import StackUrls, free_ports, running
from tests.support.ports import free_port
from tests.support.postgres import fresh_database
from tests.support.processes import REPO_ROOT, VENV_BIN
from tests.support.random_refs import random_suffix
from tests.support.waiting import wait_for

PRODUCTS = 20


@dataclass
class Shop(StackUrls):
    """A monolith (PostgreSQL, seeded) behind the proxy, every route on the monolith."""

    ports: Ports
    env: dict[str, str]
    sync_token: str

    def strangler(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(VENV_BIN / "strangler"), *args],
            env={**self.env, "COLUMNS": "200"},
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def set_direction(self, capability: str, direction: str) -> None:
        answer = httpx.put(
            f"{self.monolith_url}/internal/sync/direction/{capability}",
            json={"direction": direction},
            headers=bearer(self.sync_token),
        )
        assert answer.status_code == 200, answer.text


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    tmp = tmp_path_factory.mktemp("traffic")
    var = tmp / "var"
    var.mkdir()
    ports = free_ports()
    routes = var / "routes.yaml"
    write_routes_file(routes, ports)
    token = f"sync-{random_suffix()}"
    with fresh_database("traffic_mono") as database:
        env = stack_environment(
            ports,
            base={
                **os.environ,
                "STRANGLER_VAR_DIR": str(var),
                "DATABASE_URL": database,
                "PROXY_ROUTES_FILE": str(routes),
                "PROXY_ADMIN_TOKEN": f"admin-{random_suffix()}",
                "STRANGLER_SYNC_TOKEN": token,
            },
        )
        for argv in (
            ["migrate", "--noinput"],
            ["seed_inventory", "--products", str(PRODUCTS)],
        ):
            done = subprocess.run(
                [sys.executable, "monolith/manage.py", *argv],
                env=env,
                cwd=REPO_ROOT,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert done.returncode == 0, done.stderr
        with running(["monolith", "proxy"], ports=ports, env=env, log_dir=tmp / "logs"):
            yield Shop(ports, env, token)


def test_every_kind_reaches_the_monolith_through_the_proxy_and_nothing_fails(
    shop: Shop, tmp_path: Path
) -> None:
    report = tmp_path / "tally.json"
    done = shop.strangler(
        "traffic",
        "--rate", "20", "--duration", "3",
        "--products", str(PRODUCTS), "--customers", "3", "--clients", "10",
        "--url", shop.proxy_url, "--json", str(report),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    tally = json.loads(report.read_text())
    assert (tally["sent"], tally["failed"], tally["ok"]) == (60, 0, 60)
    assert tally["by_kind"]["read"].get("200", 0) > 0
    assert tally["by_kind"]["write"].get("200", 0) > 0
    assert tally["by_kind"]["checkout"].get("201", 0) > 0
    assert "sent 60, ok 60, failed 0" in done.stdout


def test_a_freeze_is_waited_out_after_retry_after_and_counted_not_failed(shop: Shop) -> None:
    with stack_keys(shop.env):  # stock writes need a staff caller
        staff = caller_token(staff=True)
    skus = [f"SKU-{n:05d}" for n in range(1, 6)]
    workload = Workload(base_url=shop.proxy_url, skus=skus, staff_token=staff)
    seen: list[Tally] = []

    def freeze_then_thaw() -> None:
        shop.set_direction("inventory", "frozen")
        try:
            wait_for(
                lambda: bool(seen) and seen[-1].frozen >= 3, timeout=20, message="3 frozen writes"
            )
        finally:
            shop.set_direction("inventory", "forward")

    def ticks(current: Tally) -> None:
        seen.append(current)

    thread = threading.Thread(target=freeze_then_thaw)
    thread.start()
    try:
        tally = asyncio.run(
            run_traffic(
                workload,
                Mix(read=0, write=1, checkout=0),
                rate=10,
                duration_s=3,
                on_tick=ticks,
                tick_s=0.1,
            )
        )
    finally:
        thread.join()
    assert tally.frozen >= 3
    assert (tally.failures, tally.frozen_recovered) == (0, tally.frozen), tally.examples
    assert tally.by_kind["write"] == {200: 30}


def test_no_answer_is_a_failure_with_an_example_and_exit_status_1() -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    done = subprocess.run(
        [str(VENV_BIN / "strangler"), "traffic", "--rate", "10", "--duration", "0.5",
         "--mix", "read=1", "--customers", "0", "--url", closed],
        capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "sent 5, ok 0, failed 5" in done.stdout
    assert "failed: GET /api/inventory/products/SKU-" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rate", "0"], "--rate must be above 0 and at most 1000, got 0"),
        (["--duration", "7200"], "--duration must be above 0 and at most 3600 s, got 7200"),
        (["--mix", "reads=1,bogus=2"], "--mix: 'bogus=2': expected KIND=WEIGHT"),
        (["--mix", "read=0"], "--mix: the mix has no weight at all"),
        (["--customers", "0"], "checkouts and payments need customers"),
        (
            ["--customers", "0", "--mix", "read=1,payment=1"],
            "checkouts and payments need customers",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_status_1(args: list[str], message: str) -> None:
    done = subprocess.run(
        [str(VENV_BIN / "strangler"), "traffic", *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr


def test_the_mix_reads_plural_and_singular_kinds_and_omitted_ones_weigh_nothing() -> None:
    assert Mix.parse("reads=7, checkouts=3") == Mix(read=7, write=0, checkout=3)
    with pytest.raises(MixError, match="whole number"):
        Mix.parse("read=x")
    with pytest.raises(MixError, match="negative"):
        Mix.parse("read=-1")


def test_payments_are_captured_card_payments_of_a_customer_with_their_own_key() -> None:
    workload = Workload(
        base_url="http://unused", skus=["SKU-00001"], customer_tokens=["c1", "c2"], clients=3
    )
    maker = RequestMaker(workload, Mix.parse("payment=1"), seed=2)
    requests = [maker.make(i) for i in range(40)]
    assert {(r.kind, r.method, r.path) for r in requests} == {("payment", "POST", "/api/payments/")}
    assert {r.headers["Authorization"] for r in requests} == {"Bearer c1", "Bearer c2"}
    assert len({r.headers["Idempotency-Key"] for r in requests}) == 40
    assert all(r.json and r.json["capture"] is True and r.json["card_token"] for r in requests)
    with pytest.raises(ValueError, match="need customer tokens"):
        RequestMaker(
            Workload(base_url="http://unused", skus=["SKU-00001"]), Mix.parse("payment=1"), seed=0
        )


def test_requests_spread_over_client_keys_customers_and_kinds_as_weighted() -> None:
    workload = Workload(
        base_url="http://unused", skus=["SKU-00001", "SKU-00002"],
        customer_tokens=["c1", "c2", "c3"], staff_token="staff", clients=7,
    )  # fmt: skip
    maker = RequestMaker(workload, Mix(6, 3, 1), seed=1)
    requests = [maker.make(i) for i in range(1000)]
    kinds = {kind: sum(r.kind == kind for r in requests) for kind in ("read", "write", "checkout")}
    assert 520 < kinds["read"] < 680 and 220 < kinds["write"] < 380 and 50 < kinds["checkout"] < 150
    assert {r.headers["X-Client-Id"] for r in requests} == {f"traffic-{n}" for n in range(7)}
    checkouts = [r for r in requests if r.kind == "checkout"]
    assert {r.headers["Authorization"] for r in checkouts} == {f"Bearer c{n}" for n in (1, 2, 3)}
    assert len({r.headers["Idempotency-Key"] for r in checkouts}) == len(checkouts)
    assert all(r.headers["Authorization"] == "Bearer staff" for r in requests if r.kind == "write")
    assert {r.path for r in requests if r.kind == "read"} >= {
        "/api/orders/", "/api/payments/", "/api/inventory/products/SKU-00002/",
    }  # fmt: skip

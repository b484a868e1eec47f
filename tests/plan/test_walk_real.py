"""The shipped plan walked on the real components: the monolith and the inventory service on fresh
PostgreSQL databases (rows copied and outbox relayed with the sync functions), and the real proxy
(`python -m proxy`) in front, whose admin API the gates read. Traffic goes through the proxy."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from proxy.config import load_route_table
from strangler.stack import stack_environment, write_routes_file
from tests.parity.sides import PRODUCTS, Sides, drift_product, running_sides
from tests.support.components import running
from tests.support.processes import REPO_ROOT, VENV_BIN
from tests.support.random_refs import random_suffix
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

READS = "inventory-reads"
DRIFTED = f"SKU-{PRODUCTS:05d}"  # the last product: not on the first list pages
READ_PATHS = [f"/api/inventory/products/SKU-{n:05d}/" for n in range(1, 21)] + [
    "/api/inventory/products/?page_size=10",
    "/api/inventory/products/?page=2&page_size=10",
    "/api/inventory/products/NOPE/",
]
#: Reads sent at a time through the proxy.
READERS = 8


@dataclass
class RealWalk:
    sides: Sides
    #: The proxy's and the CLI's environment (``strangler.stack.stack_environment``).
    env: dict[str, str]

    @property
    def token(self) -> str:
        return self.env["PROXY_ADMIN_TOKEN"]

    @property
    def routes_file(self) -> Path:
        return Path(self.env["PROXY_ROUTES_FILE"])

    def plan(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**self.env, "COLUMNS": "200"}
        env.pop("STRANGLER_PLAN_FILE", None)
        return subprocess.run(
            [str(VENV_BIN / "strangler"), "plan", *args],
            env=env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def admin(self, path: str) -> Any:
        resp = httpx.get(
            f"{self.sides.admin_url}{path}",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=5,
        )
        resp.raise_for_status()
        return resp.json()

    def step(self) -> None:
        """``plan next`` must succeed; then wait until the proxy serves the new route file."""
        done = self.plan("next")
        assert done.returncode == 0, done.stdout + done.stderr
        digest = hashlib.sha256(self.routes_file.read_bytes()).hexdigest()
        wait_for(lambda: self.admin("/admin/routes")["digest"] == digest, message="reload")

    def reads(self, count: int, *, paths: list[str] = READ_PATHS) -> dict[str, int]:
        """``count`` GETs through the proxy from many clients, ``READERS`` at a time (the gates
        count hundreds of requests); every answer must be a success or the 404 the paths ask
        for. Returns how many each upstream served."""

        def read(client: httpx.Client, i: int) -> str:
            path = paths[i % len(paths)]
            resp = client.get(path, headers={"X-Client-Id": f"client-{i % 97}"})
            assert resp.status_code == (404 if "NOPE" in path else 200), (path, resp.text)
            return resp.headers["X-Strangler-Upstream"]

        limits = httpx.Limits(max_connections=READERS)
        with (
            httpx.Client(base_url=self.sides.proxy_url, timeout=10, limits=limits) as client,
            ThreadPoolExecutor(READERS) as pool,
        ):
            return dict(Counter(pool.map(lambda i: read(client, i), range(count))))

    def shadow_compared(self) -> int:
        return int(self.admin("/admin/stats")["routes"][READS]["shadow"]["compared"])

    def flags(self) -> tuple[str, float]:
        route = load_route_table(self.routes_file).route(READS)
        return route.mode, route.percent


@pytest.fixture(scope="module")
def walk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealWalk]:
    logs = tmp_path_factory.mktemp("real-walk")
    with running_sides(logs) as sides:
        var_dir = logs / "walk-var"
        var_dir.mkdir()
        routes_file = var_dir / "routes.yaml"
        write_routes_file(routes_file, sides.ports)
        env = stack_environment(
            sides.ports,
            base={
                **os.environ,
                "STRANGLER_VAR_DIR": str(var_dir),
                "PROXY_ROUTES_FILE": str(routes_file),
                "PROXY_ADMIN_TOKEN": f"walk-{random_suffix()}",
            },
        )
        with running(["proxy"], ports=sides.ports, env=env, log_dir=logs):
            yield RealWalk(sides, env)


def test_the_shipped_plan_walks_to_extracted_on_the_real_components(walk: RealWalk) -> None:
    walk.step()  # 1: proxy in front
    assert walk.flags() == ("monolith", 0)
    assert walk.reads(30) == {"monolith": 30}

    walk.step()  # 2: backfill + sync (the rows were copied and the outbox relayed)
    status = walk.plan("status")
    assert "backfill 'products' done" in status.stdout and "FAIL" not in status.stdout

    walk.step()  # 3: shadow the reads
    assert walk.flags() == ("shadow", 0)
    refused = walk.plan("next")
    assert refused.returncode == 1
    assert "compared 0 since the step started, mismatches 0" in refused.stderr

    # A drifted row on the service is caught by the shadow comparison and holds the walk.
    drift_product(walk.sides, DRIFTED)
    before = walk.shadow_compared()
    assert walk.reads(20, paths=[f"/api/inventory/products/{DRIFTED}/"]) == {"monolith": 20}
    wait_for(lambda: walk.shadow_compared() >= before + 20, message="shadow comparisons")
    assert walk.reads(200) == {"monolith": 200}
    wait_for(lambda: walk.shadow_compared() >= before + 220, message="shadow comparisons")
    wait_for(
        lambda: walk.admin(f"/admin/mismatches?route={READS}")["count"] == 20,
        message="the 20 mismatches to be stored",
    )
    refused = walk.plan("next")
    assert refused.returncode == 1
    assert "mismatches 20" in refused.stderr, refused.stderr
    mismatches = walk.admin(f"/admin/mismatches?route={READS}")
    assert mismatches["count"] == 20
    assert mismatches["results"][0]["path"] == f"/api/inventory/products/{DRIFTED}/"

    # Roll back and re-enter shadow: the step starts over, older mismatches no longer count.
    rolled = walk.plan("rollback")
    assert rolled.returncode == 0, rolled.stderr
    assert walk.flags() == ("monolith", 0)
    walk.step()
    before = walk.shadow_compared()
    walk.reads(220)
    wait_for(lambda: walk.shadow_compared() >= before + 220, message="shadow comparisons")

    walk.step()  # 4: canary 10
    assert walk.flags() == ("canary", 10)
    served = walk.reads(600)
    assert served.get("inventory", 0) > 0 and served["monolith"] > served["inventory"]

    walk.step()  # 5: canary 50
    served = walk.reads(600)
    assert served.get("inventory", 0) > 0 and served.get("monolith", 0) > 0

    walk.step()  # 6: canary 100
    assert walk.reads(600) == {"inventory": 600}

    walk.step()  # 7: extracted
    assert walk.flags() == ("extracted", 0)
    assert walk.reads(600) == {"inventory": 600}
    stats = walk.admin("/admin/stats")["routes"][READS]
    assert stats["errors"] == 0

    # Step 8 switches the writes' direction, which needs the sync token (this walk has none):
    # refused before anything changed. tests/plan/test_walk_writes.py walks step 8 for real.
    end = walk.plan("next")
    assert end.returncode == 1 and "no sync token" in end.stderr, end.stderr
    assert walk.flags() == ("extracted", 0)
    reset = walk.plan("reset")
    assert reset.returncode == 0, reset.stderr
    assert walk.flags() == ("monolith", 0)
    digest = hashlib.sha256(walk.routes_file.read_bytes()).hexdigest()
    wait_for(lambda: walk.admin("/admin/routes")["digest"] == digest, message="reload")
    assert walk.reads(10) == {"monolith": 10}

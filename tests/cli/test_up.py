"""`strangler up` on the embedded default (SQLite files + kombu filesystem broker): the whole stack
comes up, a write through the proxy reaches the service by sync, and Ctrl-C stops every process."""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import sys
from pathlib import Path

import httpx
import pytest

from strangler.stack import issue_tokens_step
from tests.support.components import free_ports, up_port_options
from tests.support.processes import REPO_ROOT, ServerProcess, run_to_end
from tests.support.random_refs import random_sku, random_suffix
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_up_serves_syncs_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    ports = free_ports()
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {
            "DATABASE_URL",
            "INVENTORY_DATABASE_URL",
            "PAYMENTS_DATABASE_URL",
            "CELERY_BROKER_URL",
        }
    }
    env["STRANGLER_VAR_DIR"] = str(tmp_path / "var")
    up = ServerProcess(
        "strangler-up",
        [
            sys.executable,
            "-m",
            "strangler.cli",
            "up",
            "--products",
            "20",
            *up_port_options(ports),
        ],
        env=env,
        log_dir=tmp_path,
        cwd=REPO_ROOT,
        inherit_env=False,
    )
    with up:
        wait_for(
            lambda: "Strangler Fig is up" in up.log_path.read_text(),
            timeout=90,
            message=f"the ready banner\n{up.log_tail()}",
        )
        proxy = f"http://127.0.0.1:{ports.proxy}"
        listing = httpx.get(f"{proxy}/api/inventory/products/?page_size=5", timeout=10)
        assert listing.status_code == 200
        assert listing.headers["X-Strangler-Upstream"] == "monolith"
        assert listing.json()["count"] == 20

        # Inventory writes need a staff caller (docs/inventory-api.md, "Who may call").
        staff_token = run_to_end(
            issue_tokens_step([f"up-staff-{random_suffix()}"], staff=True, ttl_s=600), env
        )
        sku = random_sku("up")
        created = httpx.post(
            f"{proxy}/api/inventory/products/",
            json={"sku": sku, "name": "Embedded mug", "price": "9.90", "on_hand": 3},
            headers={"Authorization": f"Bearer {staff_token}"},
            timeout=10,
        )
        assert created.status_code == 201, created.text
        service = f"http://127.0.0.1:{ports.inventory}/api/inventory/products/{sku}/"
        synced = wait_for(
            lambda: (
                httpx.get(service, timeout=5).json()
                if httpx.get(service, timeout=5).status_code == 200
                else None
            ),
            timeout=60,
            message="the new product to reach the service through the filesystem broker",
        )
        assert synced == created.json()

        assert up.proc is not None
        up.proc.send_signal(signal.SIGINT)
        up.proc.wait(timeout=30)
    for port in dataclasses.astuple(ports):
        assert not _listening(port), f"something still listens on {port} after Ctrl-C"
    assert (tmp_path / "var" / "monolith.sqlite3").exists()
    assert (tmp_path / "var" / "inventory.sqlite3").exists()
    assert (tmp_path / "var" / "payments.sqlite3").exists()

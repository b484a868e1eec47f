"""The service as a real uvicorn process on a free port and a fresh PostgreSQL database: it
migrates on start-up and answers over a real socket."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from extracted.chassis.web.db import normalise_url
from extracted.inventory import migrate
from tests.support.callers import stack_staff_headers
from tests.support.components import free_ports, running
from tests.support.inventory_api import product_body, reservation_body


@pytest.fixture
def service(pg_url: str, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """Only the service: no preparation step, so the start-up migration is what makes the schema.
    With it, the header of a staff caller signed with the key pair in its var folder (the
    monolith's files, whose public half the service verifies with)."""
    env = {
        **os.environ,
        "INVENTORY_DATABASE_URL": pg_url,
        "STRANGLER_VAR_DIR": str(tmp_path / "var"),
    }
    staff = stack_staff_headers(env)
    ports = free_ports()
    with running(["inventory"], ports=ports, env=env, log_dir=tmp_path):
        yield f"http://127.0.0.1:{ports.inventory}", staff


def test_serves_the_contract_over_a_socket(
    service: tuple[str, dict[str, str]], pg_url: str
) -> None:
    url, staff = service
    with httpx.Client(base_url=url, headers=staff, timeout=10) as http:
        body = product_body(on_hand=3)
        created = http.post(
            "/api/inventory/products/", json=body, headers={"X-Request-Id": "req-1"}
        )
        assert created.status_code == 201 and created.headers["x-request-id"] == "req-1"
        reserved = http.post(
            "/api/inventory/reservations/", json=reservation_body([(body["sku"], 2)])
        )
        assert reserved.status_code == 201
        state = http.get(f"/api/inventory/products/{body['sku']}/").json()
        assert (state["available"], state["version"]) == (1, 2)
        head = http.head(f"/api/inventory/products/{body['sku']}/")
        assert head.status_code == 200 and head.content == b""
        assert http.get("/api/inventory/products").json() == {
            "error": "not_found",
            "detail": "Not found.",
        }
    engine = create_engine(normalise_url(pg_url))
    try:
        with engine.connect() as conn:
            collation = conn.scalar(
                text(
                    "SELECT collation_name FROM information_schema.columns"
                    " WHERE table_name = 'products' AND column_name = 'sku'"
                )
            )
            head_revision = conn.scalar(text("SELECT version_num FROM alembic_version"))
    finally:
        engine.dispose()
    head_of_script = ScriptDirectory.from_config(migrate.alembic_config(pg_url)).get_current_head()
    assert (collation, head_revision) == ("C", head_of_script)

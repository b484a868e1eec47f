"""The service as the stack runs it: a real uvicorn process on a free port and a fresh
PostgreSQL database, migrating on start-up, verifying the monolith's tokens with the public key
file the monolith's code wrote, over a real socket."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from extracted.chassis.web.db import normalise_url
from monolith.identity.keys import SigningKeys
from tests.extracted.payments.conftest import bearer, make_account
from tests.support.components import free_ports, running
from tests.support.payments_api import PAYMENTS, idempotency_key, payment_body, payment_path


@pytest.fixture
def service(pg_url: str, tmp_path: Path, monolith_keys: SigningKeys) -> Iterator[str]:
    """Only the service: no preparation step, so the start-up migration makes the schema."""
    env = {
        **os.environ,
        "PAYMENTS_DATABASE_URL": pg_url,
        "STRANGLER_VAR_DIR": str(tmp_path / "var"),
        "STRANGLER_JWT_PUBLIC_KEY_FILE": str(tmp_path / "keys" / "jwt-public.pem"),
    }
    ports = free_ports()
    with running(["payments"], ports=ports, env=env, log_dir=tmp_path):
        yield f"http://127.0.0.1:{ports.payments}"


def test_serves_the_contract_over_a_socket(service: str, pg_url: str) -> None:
    customer = make_account()
    with httpx.Client(base_url=service, timeout=10) as http:
        assert http.get(PAYMENTS).status_code == 401
        key = {**bearer(customer), **idempotency_key(), "X-Request-Id": "req-1"}
        created = http.post(PAYMENTS, json=payment_body(capture=True), headers=key)
        assert created.status_code == 201 and created.headers["x-request-id"] == "req-1"
        replayed = http.post(PAYMENTS, json=payment_body(capture=True), headers=key)
        assert replayed.content == created.content
        assert replayed.headers["Idempotent-Replayed"] == "true"
        refund = http.post(
            payment_path(created.json()["id"], "refunds"),
            json={"amount": "5.00"},
            headers=bearer(customer),
        )
        assert (refund.status_code, refund.json()["version"]) == (201, 2)
        head = http.head(payment_path(created.json()["id"]), headers=bearer(customer))
        assert head.status_code == 200 and head.content == b""
    engine = create_engine(normalise_url(pg_url))
    try:
        with engine.connect() as conn:
            head_revision = conn.scalar(text("SELECT version_num FROM alembic_version"))
            events = conn.scalar(text("SELECT count(*) FROM outbox_events"))
    finally:
        engine.dispose()
    assert (head_revision, events) == ("0005_reverse_sync", 2)

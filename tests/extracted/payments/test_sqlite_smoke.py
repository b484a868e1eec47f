"""The embedded default: the same service on a SQLite file (exact decimals as text, naive UTC
times, ``INSERT ... ON CONFLICT DO NOTHING`` for keys, ``BEGIN IMMEDIATE`` instead of row locks)
answers as on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from extracted.chassis.web.db import make_engine, make_sessions
from extracted.chassis.web.identity import PemKeySource, TokenVerifier
from extracted.payments import migrate
from extracted.payments.config import PaymentsSettings
from extracted.payments.main import create_app
from monolith.identity.keys import SigningKeys
from monolith.identity.models import User
from tests.extracted.asgi_client import BlockingASGIClient
from tests.extracted.payments.conftest import bearer
from tests.support.payments_api import PAYMENTS, idempotency_key, payment_body, payment_path


@pytest.fixture
def sqlite_client(tmp_path: Path, monolith_keys: SigningKeys) -> Iterator[BlockingASGIClient]:
    url = f"sqlite:///{tmp_path / 'payments.sqlite3'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    settings = PaymentsSettings(payments_database_url=url, migrate_on_start=False)
    verifier = TokenVerifier(PemKeySource(tmp_path / "keys" / "jwt-public.pem"))
    client = BlockingASGIClient(
        create_app(settings, sessions=make_sessions(engine), verifier=verifier)
    )
    yield client
    client.close()
    engine.dispose()


def test_the_contract_on_sqlite(sqlite_client: BlockingASGIClient, customer: User) -> None:
    auth = {**bearer(customer), **idempotency_key()}
    body = payment_body(amount="9999999999.99", capture=True)
    first = sqlite_client.post(PAYMENTS, json=body, headers=auth)
    again = sqlite_client.post(PAYMENTS, json=body, headers=auth)
    assert (first.status_code, again.content) == (201, first.content)
    assert again.headers["Idempotent-Replayed"] == "true"
    pid = first.json()["id"]
    refund = sqlite_client.post(
        payment_path(pid, "refunds"), json={"amount": "0.01"}, headers=bearer(customer)
    )
    assert (refund.status_code, refund.json()["refunded_amount"]) == (201, "0.01")
    rest = sqlite_client.post(payment_path(pid, "refunds"), headers=bearer(customer)).json()
    assert (rest["status"], rest["refunded_amount"]) == ("refunded", "9999999999.99")
    second = sqlite_client.post(PAYMENTS, json=payment_body(), headers=bearer(customer)).json()
    listed = sqlite_client.get(PAYMENTS, headers=bearer(customer)).json()
    assert [p["id"] for p in listed["results"]] == [second["id"], pid]
    assert listed["results"][1] == rest

"""``apply_payment_states``: the monolith's payment rows land here by version, refunds included,
and the API then shows them exactly as the monolith's state says."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from extracted.chassis.web.unit_of_work import unit_of_work
from extracted.payments.backfill import apply_payment_states
from monolith.identity.models import User
from tests.extracted.asgi_client import BlockingASGIClient
from tests.extracted.payments.conftest import bearer
from tests.support.payments_api import payment_path

T0 = datetime(2026, 11, 1, 12, 0, 0, 123456, tzinfo=UTC)


def state(customer: User, **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "customer_id": str(customer.id),
        "order_id": None,
        "amount": "50.00",
        "status": "captured",
        "captured_amount": "50.00",
        "refunded_amount": "0.00",
        "decline_reason": None,
        "gateway_reference": "gw_000000000000000000000000",
        "refunds": [],
        "version": 1,
        "created_at": T0.isoformat(),
        "updated_at": T0.isoformat(),
    }
    return {**row, **changes}


def apply(sessions: sessionmaker[Session], rows: list[dict[str, Any]]) -> int:
    with unit_of_work(sessions) as session:
        return apply_payment_states(session, rows)


def test_newer_versions_replace_older_ones_and_refunds_follow(
    client: BlockingASGIClient, customer: User, sessions: sessionmaker[Session]
) -> None:
    first = state(customer)
    later = T0 + timedelta(minutes=5)
    refund = {"id": str(uuid.uuid4()), "amount": "20.00", "created_at": later.isoformat()}
    second = {
        **first,
        "refunded_amount": "20.00",
        "refunds": [refund],
        "version": 2,
        "updated_at": later.isoformat(),
    }
    assert apply(sessions, [first]) == 1
    assert apply(sessions, [second, first]) == 1  # the newest of a batch wins
    assert apply(sessions, [first]) == 0  # an older version changes nothing
    shown = client.get(payment_path(first["id"]), headers=bearer(customer)).json()
    assert (shown["version"], shown["refunded_amount"]) == (2, "20.00")
    assert shown["refunds"] == [{**refund, "created_at": "2026-11-01T12:05:00.123456Z"}]
    assert shown["created_at"] == "2026-11-01T12:00:00.123456Z"


def test_an_invalid_row_refuses_the_whole_batch(
    customer: User, sessions: sessionmaker[Session], client: BlockingASGIClient
) -> None:
    good = state(customer)
    with pytest.raises(ValidationError):
        apply(sessions, [good, state(customer, status="lost")])
    assert client.get(payment_path(good["id"]), headers=bearer(customer)).status_code == 404

"""Factories for the monolith's payment states (what its events and backfill pages carry) and
their event envelopes; unique ids per call."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.events import PAYMENT_CAPTURED, EventEnvelope
from monolith.identity.models import User

T0 = datetime(2026, 11, 1, 12, 0, 0, 123456, tzinfo=UTC)


def payment_state(customer: User, **changes: Any) -> dict[str, Any]:
    version = changes.get("version", 1)
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
        "updated_at": (T0 + timedelta(seconds=version)).isoformat(),
    }
    return {**row, **changes}


def envelope(payload: dict[str, Any], **changes: Any) -> dict[str, Any]:
    event = EventEnvelope(
        event_id=uuid.uuid4(),
        seq=payload["version"],
        aggregate_type="payment",
        aggregate_id=str(payload["id"]),
        event_type=PAYMENT_CAPTURED,
        version=payload["version"],
        occurred_at=datetime.now(UTC),
        payload=payload,
    ).model_dump(mode="json")
    return {**event, **changes}

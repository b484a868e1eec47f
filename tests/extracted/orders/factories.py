"""Factories for the monolith's order states (what its events and backfill pages carry) and
their event envelopes; unique ids and skus per call."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.events import ORDER_PLACED, EventEnvelope
from tests.support.random_refs import random_sku

T0 = datetime(2026, 11, 1, 12, 0, 0, 123456, tzinfo=UTC)


def line(sku: str, quantity: int, unit_price: str) -> dict[str, Any]:
    total = f"{quantity * float(unit_price):.2f}"
    return {"sku": sku, "quantity": quantity, "unit_price": unit_price, "line_total": total}


def order_state(**changes: Any) -> dict[str, Any]:
    version = changes.get("version", 1)
    row: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "customer_id": str(uuid.uuid4()),
        "status": "confirmed",
        "cancel_reason": None,
        "lines": [line(random_sku(), 2, "5.00"), line(random_sku(), 1, "2.50")],
        "total": "12.50",
        "payment_id": str(uuid.uuid4()),
        "reservation_id": str(uuid.uuid4()),
        "version": 1,
        "created_at": T0.isoformat(),
        "updated_at": (T0 + timedelta(seconds=version)).isoformat(),
    }
    return {**row, **changes}


def envelope(payload: dict[str, Any]) -> dict[str, Any]:
    return EventEnvelope(
        event_id=uuid.uuid4(),
        seq=payload["version"],
        aggregate_type="order",
        aggregate_id=str(payload["id"]),
        event_type=ORDER_PLACED,
        version=payload["version"],
        occurred_at=datetime.now(UTC),
        payload=payload,
    ).model_dump(mode="json")

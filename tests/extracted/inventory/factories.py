"""Factories for event envelopes and backfill rows (unique ids per call); request bodies are
``tests.support.inventory_api``'s."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.events import (
    PRODUCT_STOCK_ADJUSTED,
    RESERVATION_CREATED,
    EventEnvelope,
    ProductState,
    ReservationLine,
    ReservationState,
)
from tests.support.random_refs import random_order_id, random_sku

T0 = datetime(2026, 11, 24, 23, 17, 1, 123456, tzinfo=UTC)


def product_state(*, sku: str | None = None, version: int = 1, **overrides: Any) -> dict[str, Any]:
    state = ProductState(
        sku=sku or random_sku(),
        name=overrides.pop("name", f"Product v{version}"),
        price=overrides.pop("price", "9.99"),
        on_hand=overrides.pop("on_hand", 10 * version),
        reserved=overrides.pop("reserved", 0),
        version=version,
        created_at=overrides.pop("created_at", T0),
        updated_at=overrides.pop("updated_at", T0 + timedelta(seconds=version)),
    ).model_dump(mode="json")
    assert not overrides, f"unknown product fields {overrides}"
    return state


def reservation_state(
    *,
    lines: list[tuple[str, int]],
    reservation_id: str | None = None,
    version: int = 1,
    status: str = "pending",
) -> dict[str, Any]:
    return ReservationState(
        id=uuid.UUID(reservation_id) if reservation_id else uuid.uuid4(),
        order_id=uuid.UUID(random_order_id()),
        status=status,  # type: ignore[arg-type]
        lines=[ReservationLine(sku=sku, quantity=quantity) for sku, quantity in lines],
        version=version,
        created_at=T0,
        updated_at=T0 + timedelta(seconds=version),
    ).model_dump(mode="json")


def envelope(
    payload: dict[str, Any],
    *,
    aggregate_type: str = "product",
    event_id: str | None = None,
    occurred_at: datetime | None = None,
) -> dict[str, Any]:
    key = "sku" if aggregate_type == "product" else "id"
    return EventEnvelope(
        event_id=uuid.UUID(event_id) if event_id else uuid.uuid4(),
        seq=payload["version"],
        aggregate_type=aggregate_type,  # type: ignore[arg-type]
        aggregate_id=str(payload[key]),
        event_type=PRODUCT_STOCK_ADJUSTED if aggregate_type == "product" else RESERVATION_CREATED,
        version=payload["version"],
        occurred_at=occurred_at or datetime.now(UTC),
        payload=payload,
    ).model_dump(mode="json")

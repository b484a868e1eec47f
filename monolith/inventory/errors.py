"""The inventory's refusals (docs/inventory-api.md, error bodies)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from monolith.errors import (
    ApplicationError,
    ConflictError,
    InvalidStateError,
    NotFoundError,
    RuleValidationError,
)


class ProductNotFound(NotFoundError):
    def __init__(self, sku: str) -> None:
        super().__init__(f"Product '{sku}' not found.")
        self.sku = sku


class ReservationNotFound(NotFoundError):
    def __init__(self, reservation_id: uuid.UUID | str) -> None:
        super().__init__(f"Reservation '{reservation_id}' not found.")
        self.reservation_id = reservation_id


class ProductAlreadyExists(ConflictError):
    def __init__(self, sku: str) -> None:
        super().__init__(f"Product '{sku}' already exists.")
        self.sku = sku


class OrderAlreadyReserved(ConflictError):
    def __init__(self, order_id: uuid.UUID) -> None:
        super().__init__(f"Order '{order_id}' already has a reservation.")
        self.order_id = order_id


class ReservationAlreadyExists(ConflictError):
    """A writer-chosen reservation ``id`` is taken (by another order's reservation)."""

    def __init__(self, reservation_id: uuid.UUID) -> None:
        super().__init__(f"Reservation '{reservation_id}' already exists.")
        self.reservation_id = reservation_id


@dataclass(frozen=True)
class Shortage:
    sku: str
    requested: int
    available: int


class InsufficientStock(ApplicationError):
    code = "insufficient_stock"

    def __init__(self, shortages: list[Shortage]) -> None:
        super().__init__("Insufficient stock.")
        self.shortages = sorted(shortages, key=lambda s: s.sku)

    def extra(self) -> dict[str, Any]:
        return {
            "shortages": [
                {"sku": s.sku, "requested": s.requested, "available": s.available}
                for s in self.shortages
            ]
        }


class ReservationNotPending(InvalidStateError):
    def __init__(self, status: str) -> None:
        super().__init__(f"Reservation is {status}, expected pending.")
        self.status = status


class StockLimitExceeded(RuleValidationError):
    """An increase that would take ``on_hand`` past what a row can hold (the contract is silent
    on upper bounds; this answers like DRF's ``max_value`` would, instead of a database error)."""

    def __init__(self, *, field: str, limit: int) -> None:
        super().__init__({field: [f"Ensure this value is less than or equal to {limit}."]})

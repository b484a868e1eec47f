"""The orders' refusals (docs/orders-api.md, error bodies).

A checkout that is refused *after* its order was stored (``cancelled``, with a reason) answers with
the error of its reason plus the stored order under ``"order"``: ``CheckoutShortOfStock`` here, and
the payments' own ``PaymentDeclined`` / ``PaymentGatewayFailed`` (which carry extra body keys) for
the card. An existing order that is not in the state an action needs answers ``invalid_state`` with
its current ``"status"``.
"""

from __future__ import annotations

import uuid
from typing import Any

from monolith.errors import ApplicationError, ConflictError, InvalidStateError, NotFoundError
from monolith.inventory.errors import InsufficientStock, Shortage


class OrderNotFound(NotFoundError):
    def __init__(self, order_id: uuid.UUID | str) -> None:
        super().__init__(f"Order '{order_id}' not found.")
        self.order_id = order_id


class OrderNotConfirmed(InvalidStateError):
    def __init__(self, status: str) -> None:
        super().__init__(f"Order is {status}, expected confirmed.")
        self.status = status

    def extra(self) -> dict[str, Any]:
        return {"status": self.status}


class FulfilmentStaffOnly(ApplicationError):
    """The order's own customer asked to fulfil it (anyone else's order is a 404)."""

    code = "permission_denied"

    def __init__(self) -> None:
        super().__init__("Only staff may fulfil orders.")


class CheckoutShortOfStock(InsufficientStock):
    """409: the order was stored ``cancelled`` (``insufficient_stock``)."""

    def __init__(self, shortages: list[Shortage], order: dict[str, Any]) -> None:
        super().__init__(shortages)
        self.order = order

    def extra(self) -> dict[str, Any]:
        return {**super().extra(), "order": self.order}


class OrderBusy(ConflictError):
    """409: a cancel or fulfil of the order is still under way (its owner is reached over HTTP)."""

    def __init__(self) -> None:
        super().__init__("A change of this order is still under way; retry shortly.")

"""In-memory inventory and payments as the orders saga calls them (``clients/inventory.py``,
``clients/payments.py``), for the saga's unit tests: the same idempotent answers as the real
contracts, every call logged in order, and failures injected per call.

They stand in for the clients, not for HTTP: the clients' own mapping of answers is tested with
the real services (``test_checkout_saga.py``, ``tests/faults/``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from extracted.orders.clients.inventory import (
    InventoryClient,
    NotSettleable,
    Reserved,
    ShortOfStock,
)
from extracted.orders.clients.payments import Charged, Declined, GatewayFailed, PaymentsClient
from extracted.orders.clients.upstream import CallContext, UpstreamUnavailable

#: The card token the fake gateway declines.
DECLINED_CARD = "tok_chargeDeclined"


class Calls:
    """The log both fakes write to: ``(upstream, action)`` in the order the saga called them."""

    def __init__(self) -> None:
        self.made: list[tuple[str, str]] = []
        self._failures: dict[tuple[str, str], list[UpstreamUnavailable]] = {}

    def fail_next(self, upstream: str, action: str, *, sent: bool) -> None:
        """The next ``action`` call to ``upstream`` raises ``UpstreamUnavailable`` (``sent``:
        whether it may have reached the upstream: the call is taken all the same when it did)."""
        failure = UpstreamUnavailable(upstream, "injected", sent=sent)
        self._failures.setdefault((upstream, action), []).append(failure)

    def record(self, upstream: str, action: str) -> UpstreamUnavailable | None:
        """Log the call; the failure injected for it, if any."""
        self.made.append((upstream, action))
        waiting = self._failures.get((upstream, action))
        return waiting.pop(0) if waiting else None


class FakeInventory(InventoryClient):
    def __init__(self, calls: Calls, stock: dict[str, int]) -> None:  # no upstream: no HTTP
        self.calls = calls
        self.on_hand = dict(stock)
        self.reservations: dict[uuid.UUID, dict[str, Any]] = {}

    def reserve(
        self,
        *,
        reservation_id: uuid.UUID,
        order_id: uuid.UUID,
        lines: Sequence[tuple[str, int]],
        context: CallContext,
    ) -> Reserved | ShortOfStock:
        failure = self.calls.record("inventory", "reserve")
        if failure is not None and not failure.sent:
            raise failure
        existing = self.reservations.get(reservation_id)
        if existing is None:
            shortages = [
                {"sku": sku, "requested": quantity, "available": self.on_hand.get(sku, 0)}
                for sku, quantity in lines
                if self.on_hand.get(sku, 0) < quantity
            ]
            if shortages:
                return ShortOfStock(shortages)
            for sku, quantity in lines:
                self.on_hand[sku] -= quantity
            existing = {"id": str(reservation_id), "order_id": str(order_id), "lines": list(lines)}
            existing["status"] = "pending"
            self.reservations[reservation_id] = existing
        if failure is not None:  # taken, but the answer is lost
            raise failure
        return Reserved(dict(existing))

    def release(self, reservation_id: uuid.UUID, *, context: CallContext) -> NotSettleable | None:
        failure = self.calls.record("inventory", "release")
        if failure is not None and not failure.sent:
            raise failure
        reservation = self.reservations.get(reservation_id)
        if reservation is not None and reservation["status"] == "pending":
            reservation["status"] = "released"
            for sku, quantity in reservation["lines"]:
                self.on_hand[sku] += quantity
        if failure is not None:  # taken, but the answer is lost
            raise failure
        if reservation is not None and reservation["status"] != "released":
            return NotSettleable({"error": "invalid_state", "status": reservation["status"]})
        return None


class FakePayments(PaymentsClient):
    def __init__(self, calls: Calls) -> None:  # no upstream: no HTTP
        self.calls = calls
        #: Payments by Idempotency-Key: a repeated charge replays the first answer.
        self.by_key: dict[str, dict[str, Any]] = {}

    def charge(
        self,
        *,
        key: str,
        customer_id: uuid.UUID,
        order_id: uuid.UUID,
        amount: Decimal,
        card_token: str,
        context: CallContext,
    ) -> Charged | Declined | GatewayFailed:
        failure = self.calls.record("payments", "charge")
        if failure is not None and not failure.sent:
            raise failure
        payment = self.by_key.get(key)
        if payment is None:
            declined = card_token == DECLINED_CARD
            payment = {
                "id": str(uuid.uuid4()),
                "order_id": str(order_id),
                "amount": f"{amount:.2f}",
                "status": "declined" if declined else "captured",
            }
            self.by_key[key] = payment
        if failure is not None:  # taken, but the answer is lost
            raise failure
        if payment["status"] == "declined":
            return Declined("card_declined", dict(payment))
        return Charged(dict(payment))

    def refund(self, payment_id: uuid.UUID, *, key: str, context: CallContext) -> None:
        failure = self.calls.record("payments", "refund")
        if failure is not None and not failure.sent:
            raise failure
        for payment in self.by_key.values():
            if payment["id"] == str(payment_id):
                payment["status"] = "refunded"
        if failure is not None:  # taken, but the answer is lost
            raise failure

    def captured(self) -> list[dict[str, Any]]:
        return [p for p in self.by_key.values() if p["status"] == "captured"]

"""A small shop's books as each owner's reconciliation rows (protocol.reconcile_spec texts):
products, and orders placed through checkout with their reservation and payment, in any state."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from protocol.reconcile_spec import SPECS

NOW = "2026-01-01T00:00:00+00:00"
PRICE = Decimal("2.50")


@dataclass
class Shop:
    skus: list[str] = field(default_factory=lambda: ["SKU-00001", "SKU-00002"])
    on_hand: int = 100
    reserved: dict[str, int] = field(default_factory=dict)
    reservations: dict[str, dict[str, Any]] = field(default_factory=dict)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)

    def checkout(self, sku: str = "SKU-00001", quantity: int = 1) -> str:
        """A confirmed order: its reservation pending, its payment captured for the total."""
        order_id, reservation_id, payment_id = (str(uuid.uuid4()) for _ in range(3))
        customer = str(uuid.uuid4())
        total = PRICE * quantity
        self.reservations[reservation_id] = {
            "id": reservation_id,
            "order_id": order_id,
            "status": "pending",
            "lines": [{"sku": sku, "quantity": quantity}],
            **_stamps(),
        }
        self.reserved[sku] = self.reserved.get(sku, 0) + quantity
        self.payments[payment_id] = {
            "id": payment_id,
            "customer_id": customer,
            "order_id": order_id,
            "amount": total,
            "status": "captured",
            "captured_amount": total,
            "refunded_amount": Decimal(0),
            "decline_reason": None,
            "gateway_reference": "gw-1",
            "refunds": [],
            **_stamps(),
        }
        self.orders[order_id] = {
            "id": order_id,
            "customer_id": customer,
            "status": "confirmed",
            "cancel_reason": None,
            "total": total,
            "payment_id": payment_id,
            "reservation_id": reservation_id,
            "lines": [{"sku": sku, "quantity": quantity, "unit_price": PRICE, "line_total": total}],
            **_stamps(),
        }
        return order_id

    def fulfil(self, order_id: str) -> None:
        order = self.orders[order_id]
        order["status"] = "fulfilled"
        reservation = self.reservations[order["reservation_id"]]
        reservation["status"] = "committed"
        for line in reservation["lines"]:
            self.reserved[line["sku"]] -= line["quantity"]

    def cancel(self, order_id: str) -> None:
        """Cancelled as the contract does it: refunded and released."""
        order = self.orders[order_id]
        order["status"] = "cancelled"
        order["cancel_reason"] = "cancelled_by_customer"
        payment = self.payments[order["payment_id"]]
        payment["status"] = "refunded"
        payment["refunded_amount"] = payment["captured_amount"]
        reservation = self.reservations[order["reservation_id"]]
        reservation["status"] = "released"
        for line in reservation["lines"]:
            self.reserved[line["sku"]] -= line["quantity"]

    def rows(self) -> dict[str, list[dict[str, Any]]]:
        """Each aggregate's canonical rows, as ``POST /internal/reconcile/AGG/rows`` answers."""
        products = [
            {
                "sku": sku,
                "name": sku.lower(),
                "price": PRICE,
                "on_hand": self.on_hand,
                "reserved": self.reserved.get(sku, 0),
                **_stamps(),
            }
            for sku in self.skus
        ]
        states = {
            "products": products,
            "reservations": list(self.reservations.values()),
            "payments": list(self.payments.values()),
            "orders": list(self.orders.values()),
        }
        return {
            name: [
                {
                    "key": SPECS[name].canonical_key(state[SPECS[name].key.name]),
                    "version": state["version"],
                    "text": SPECS[name].canonical_state(state),
                }
                for state in rows
            ]
            for name, rows in states.items()
        }

    def texts(self) -> dict[str, list[str]]:
        return {name: [row["text"] for row in rows] for name, rows in self.rows().items()}


def _stamps() -> dict[str, Any]:
    return {"version": 1, "created_at": NOW, "updated_at": NOW}

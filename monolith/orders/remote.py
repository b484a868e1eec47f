"""The remote adapters of the orders' ports (``ports.py``): the capability's owner over HTTP
through the façade (``facade_client.py``), in the wire contracts every owner answers
(docs/inventory-api.md, docs/payments-api.md). Used once the capability is ``reverse`` (its
service takes the writes).

Every call is idempotent, so every call is retried: the reservation's id is the caller's (a
repeat answers ``conflict``: it is ours, the order id being new to this checkout); a charge
carries an ``Idempotency-Key`` derived from the order and the step (a repeat replays the first
answer: one payment, one charge), and so does a refund; commit, release, refund and void answer
``invalid_state`` with the state they wanted when it is there already.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import httpx

from monolith.inventory.errors import Shortage
from monolith.orders.facade_client import FacadeClient
from monolith.orders.ports import (
    Charged,
    Declined,
    GatewayFailed,
    OwnerRefused,
    OwnerUnavailable,
    Reserved,
    ShortOfStock,
    Where,
)

RESERVATIONS = "/api/inventory/reservations/"
PAYMENTS = "/api/payments/"


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _unexpected(capability: str, response: httpx.Response) -> OwnerUnavailable:
    reason = f"unexpected {response.status_code}: {response.text[:200]}"
    return OwnerUnavailable(capability, reason, sent=True)


class RemoteStock:
    where: Where = "remote"

    def __init__(self, client: FacadeClient) -> None:
        self.client = client

    def reserve(
        self, *, reservation_id: uuid.UUID, order_id: uuid.UUID, lines: Sequence[tuple[str, int]]
    ) -> Reserved | ShortOfStock:
        body = {
            "id": str(reservation_id),
            "order_id": str(order_id),
            "lines": [{"sku": sku, "quantity": quantity} for sku, quantity in lines],
        }
        response = self.client.call("inventory", "POST", RESERVATIONS, json=body, idempotent=True)
        answer = _body(response)
        if response.status_code == 201:
            return Reserved(uuid.UUID(answer["id"]))
        if response.status_code == 409 and answer.get("error") == "insufficient_stock":
            return ShortOfStock(
                [
                    Shortage(sku=s["sku"], requested=s["requested"], available=s["available"])
                    for s in answer["shortages"]
                ]
            )
        if response.status_code == 409 and answer.get("error") == "conflict":
            return Reserved(reservation_id)  # an earlier try of this step
        raise _unexpected("inventory", response)

    def commit(self, reservation_id: uuid.UUID) -> None:
        self._settle(reservation_id, "commit", "committed")

    def release(self, reservation_id: uuid.UUID) -> None:
        self._settle(reservation_id, "release", "released")

    def _settle(self, reservation_id: uuid.UUID, action: str, wanted: str) -> None:
        path = f"{RESERVATIONS}{reservation_id}/{action}/"
        response = self.client.call("inventory", "POST", path, idempotent=True)
        if response.status_code == 200:
            return
        if response.status_code == 404 and action == "release":
            return  # never held: nothing to free
        answer = _body(response)
        if response.status_code == 409 and answer.get("error") == "invalid_state":
            current = str(answer.get("detail", "")).removeprefix("Reservation is ").split(",")[0]
            if current == wanted:
                return
            raise OwnerRefused("inventory", answer)
        raise _unexpected("inventory", response)


class RemotePayments:
    where: Where = "remote"

    def __init__(self, client: FacadeClient) -> None:
        self.client = client

    def charge(
        self,
        *,
        key: str,
        payment_id: uuid.UUID,
        customer_id: uuid.UUID,
        order_id: uuid.UUID,
        amount: Decimal,
        card_token: str,
    ) -> Charged | Declined | GatewayFailed:
        body = {
            "amount": f"{amount:.2f}",
            "card_token": card_token,
            "order_id": str(order_id),
            "customer_id": str(customer_id),
            "capture": True,
        }
        response = self.client.call(
            "payments", "POST", PAYMENTS, json=body, key=key, idempotent=True
        )
        answer = _body(response)
        if response.status_code == 201:
            return Charged(uuid.UUID(answer["id"]))
        if response.status_code == 402:
            return Declined(str(answer.get("reason", "declined")))
        if response.status_code == 502 and answer.get("error") == "gateway_error":
            return GatewayFailed()
        raise _unexpected("payments", response)

    def give_back(self, payment_id: uuid.UUID, *, key: str) -> None:
        path = f"{PAYMENTS}{payment_id}/refunds/"
        response = self.client.call("payments", "POST", path, json={}, key=key, idempotent=True)
        if response.status_code == 201:
            return
        answer = _body(response)
        if response.status_code == 409 and answer.get("error") == "invalid_state":
            status = answer.get("status")
            if status in ("refunded", "voided"):
                return
            if status == "authorized":
                self._void(payment_id)
                return
            raise OwnerRefused("payments", answer)
        raise _unexpected("payments", response)

    def _void(self, payment_id: uuid.UUID) -> None:
        path = f"{PAYMENTS}{payment_id}/void/"
        response = self.client.call("payments", "POST", path, idempotent=True)
        answer = _body(response)
        if response.status_code == 200 or answer.get("status") == "voided":
            return
        if response.status_code == 409:
            raise OwnerRefused("payments", answer)
        raise _unexpected("payments", response)

"""The inventory contract (docs/inventory-api.md) as the saga needs it.

Every call here is idempotent, so every call is retried: reads; the reservation create, because
the saga chooses the reservation's id (a repeat answers "already has a reservation", and the
reservation is then read by that id); release and commit, because a repeat finds the state it
wanted and says so (409 ``invalid_state`` with that status).

Every call is made as the orders service's account (``service_token.py``): stock changes need
a staff user or a service account on every owner.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from extracted.orders.clients.service_token import bearer
from extracted.orders.clients.upstream import CallContext, UnexpectedAnswer, Upstream

PRODUCTS = "/api/inventory/products/"
RESERVATIONS = "/api/inventory/reservations/"


@dataclass(frozen=True)
class Reserved:
    reservation: dict[str, Any]


@dataclass(frozen=True)
class ShortOfStock:
    shortages: list[dict[str, Any]]


@dataclass(frozen=True)
class NotSettleable:
    """The reservation is in a state the call cannot leave (e.g. a release of a committed one):
    inventory's 409 ``invalid_state`` body, for the caller to relay."""

    body: dict[str, Any]


class InventoryClient:
    def __init__(self, upstream: Upstream, token: Callable[[], str]) -> None:
        self.upstream = upstream
        self.token = token

    def _call(
        self, method: str, path: str, *, context: CallContext, json: Any = None
    ) -> httpx.Response:
        """One call as the service account (every call here is idempotent: module docstring)."""
        headers = bearer(self.token, self.upstream.name)
        return self.upstream.call(
            method, path, json=json, headers=headers, context=context, idempotent=True
        )

    def product(self, sku: str, *, context: CallContext) -> dict[str, Any] | None:
        response = self._call("GET", f"{PRODUCTS}{sku}/", context=context)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise UnexpectedAnswer(self.upstream.name, response)
        body: dict[str, Any] = response.json()
        return body

    def reserve(
        self,
        *,
        reservation_id: uuid.UUID,
        order_id: uuid.UUID,
        lines: Sequence[tuple[str, int]],
        context: CallContext,
    ) -> Reserved | ShortOfStock:
        body = {
            "id": str(reservation_id),
            "order_id": str(order_id),
            "lines": [{"sku": sku, "quantity": quantity} for sku, quantity in lines],
        }
        response = self._call("POST", RESERVATIONS, json=body, context=context)
        if response.status_code == 201:
            return Reserved(response.json())
        answer = response.json() if response.status_code in (404, 409) else {}
        if response.status_code == 409 and answer.get("error") == "insufficient_stock":
            return ShortOfStock(list(answer["shortages"]))
        if response.status_code == 409 and answer.get("error") == "conflict":
            # Reserved already: by an earlier try of this very step (a retry, or the run before a
            # crash). The id proves it is ours.
            existing = self.reservation(reservation_id, context=context)
            if existing is not None and existing["order_id"] == str(order_id):
                return Reserved(existing)
        raise UnexpectedAnswer(self.upstream.name, response)

    def reservation(
        self, reservation_id: uuid.UUID, *, context: CallContext
    ) -> dict[str, Any] | None:
        response = self._call("GET", f"{RESERVATIONS}{reservation_id}/", context=context)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise UnexpectedAnswer(self.upstream.name, response)
        body: dict[str, Any] = response.json()
        return body

    def release(self, reservation_id: uuid.UUID, *, context: CallContext) -> NotSettleable | None:
        """Release; ``None`` once the reservation is released (now or before) or never existed."""
        return self._settle(reservation_id, "release", "released", context=context)

    def commit(self, reservation_id: uuid.UUID, *, context: CallContext) -> NotSettleable | None:
        """Commit; ``None`` once the reservation is committed (now or before)."""
        return self._settle(reservation_id, "commit", "committed", context=context)

    def _settle(
        self, reservation_id: uuid.UUID, action: str, wanted: str, *, context: CallContext
    ) -> NotSettleable | None:
        response = self._call("POST", f"{RESERVATIONS}{reservation_id}/{action}/", context=context)
        if response.status_code == 200:
            return None
        if response.status_code == 404 and action == "release":
            return None  # never reserved: nothing is held
        if response.status_code == 409:
            answer: dict[str, Any] = response.json()
            if answer.get("error") == "invalid_state":
                current = answer.get("detail", "").removeprefix("Reservation is ").split(",")[0]
                return None if current == wanted else NotSettleable(answer)
        raise UnexpectedAnswer(self.upstream.name, response)

"""The payments contract (docs/payments-api.md) as the saga needs it.

The charge (``POST /api/payments/`` with ``capture: true``) is made idempotent with an
``Idempotency-Key`` derived from the saga, so it is retried like the other calls: a repeat (a
retry, or the run after a crash) replays the first answer, one payment and one charge. Refunds
carry a key of their own too, and a payment found already refunded counts as refunded.

Calls are made as the orders service's account (``service_token.py``), naming the order's
customer in the body: see that module for why the caller's own token is not forwarded.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from extracted.orders.clients.service_token import bearer
from extracted.orders.clients.upstream import CallContext, UnexpectedAnswer, Upstream

PAYMENTS = "/api/payments/"


@dataclass(frozen=True)
class Charged:
    payment: dict[str, Any]


@dataclass(frozen=True)
class Declined:
    reason: str
    payment: dict[str, Any]


@dataclass(frozen=True)
class GatewayFailed:
    """The card gateway failed: nothing was charged or stored."""


class PaymentsClient:
    def __init__(self, upstream: Upstream, token: Callable[[], str]) -> None:
        self.upstream = upstream
        self.token = token

    def _auth(self, key: str | None = None) -> dict[str, str]:
        headers = bearer(self.token, self.upstream.name)
        if key is not None:
            headers["Idempotency-Key"] = key
        return headers

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
        body = {
            "amount": f"{amount:.2f}",
            "card_token": card_token,
            "order_id": str(order_id),
            "customer_id": str(customer_id),
            "capture": True,
        }
        response = self.upstream.call(
            "POST", PAYMENTS, json=body, headers=self._auth(key), context=context, idempotent=True
        )
        answer: dict[str, Any] = response.json() if response.content else {}
        if response.status_code == 201:
            return Charged(answer)
        if response.status_code == 402:
            return Declined(str(answer.get("reason", "declined")), answer.get("payment", {}))
        if response.status_code == 502 and answer.get("error") == "gateway_error":
            return GatewayFailed()
        raise UnexpectedAnswer(self.upstream.name, response)

    def refund(self, payment_id: uuid.UUID, *, key: str, context: CallContext) -> None:
        """Refund everything left; done also when the payment is refunded already."""
        response = self.upstream.call(
            "POST",
            f"{PAYMENTS}{payment_id}/refunds/",
            json={},
            headers=self._auth(key),
            context=context,
            idempotent=True,
        )
        if response.status_code == 201:
            return
        if response.status_code == 409:
            answer: dict[str, Any] = response.json()
            if answer.get("error") == "invalid_state" and answer.get("status") == "refunded":
                return
        raise UnexpectedAnswer(self.upstream.name, response)

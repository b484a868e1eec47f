"""The payments HTTP contract (docs/payments-api.md) as tests speak it: paths and request bodies.
The monolith and the extracted service answer the same contract, so every suite that talks to
either one builds its requests here."""

from __future__ import annotations

import uuid
from typing import Any

from tests.support.random_refs import random_suffix

PAYMENTS = "/api/payments/"

PAYMENT_KEYS = [
    "id",
    "customer_id",
    "order_id",
    "amount",
    "status",
    "captured_amount",
    "refunded_amount",
    "decline_reason",
    "gateway_reference",
    "refunds",
    "version",
    "created_at",
    "updated_at",
]


def payment_path(payment_id: uuid.UUID | str, action: str = "") -> str:
    return f"{PAYMENTS}{payment_id}/{action + '/' if action else ''}"


def payment_body(**overrides: Any) -> dict[str, Any]:
    """A valid create-payment body (authorise 20.00 on a visa); a key given ``...`` is left out."""
    body: dict[str, Any] = {"amount": "20.00", "card_token": "tok_visa"}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


def idempotency_key() -> dict[str, str]:
    """A fresh ``Idempotency-Key`` header."""
    return {"Idempotency-Key": f"key-{random_suffix()}-{uuid.uuid4().hex}"}

"""Request bodies and query filters of the orders API (DRF-compatible validation)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from extracted.chassis.web.errors import ValidationFailed
from extracted.chassis.web.validation import (
    CharField,
    IntegerField,
    Invalid,
    ListField,
    RegexField,
    Serializer,
    UUIDField,
)
from extracted.orders.models import MAX_LINES
from extracted.orders.states import ORDER_STATUSES

SKU_PATTERN = r"^[A-Za-z0-9._-]+$"
#: Largest quantity of a line (PostgreSQL ``integer``, as the monolith's ``MAX_STOCK``).
MAX_STOCK = 2_147_483_647
CARD_TOKEN_MAX_LENGTH = 100
_CARD_TOKEN = re.compile(r"^tok_[a-z0-9_]+$")


def _card_token(value: str) -> str | None:
    return (
        None if _CARD_TOKEN.fullmatch(value) else "Not a card token (expected tok_ and [a-z0-9_])."
    )


checkout_input = Serializer(
    {
        "customer_id": UUIDField(required=False, allow_null=True, default=None),
        "lines": ListField(
            Serializer(
                {
                    "sku": RegexField(SKU_PATTERN, max_length=64),
                    "quantity": IntegerField(min_value=1, max_value=MAX_STOCK),
                }
            ),
            allow_empty=False,
            max_length=MAX_LINES,
        ),
        "card_token": CharField(max_length=CARD_TOKEN_MAX_LENGTH),
    },
    checks={"card_token": _card_token},
)


def list_filters(query: Mapping[str, str]) -> dict[str, Any]:
    """``status`` and ``customer_id`` as DRF reads a ``QueryDict``: the last value; an empty
    value counts as absent."""
    filters: dict[str, Any] = {"status": None, "customer_id": None}
    errors: dict[str, list[str]] = {}
    status = query.get("status")
    if status:
        if status in ORDER_STATUSES:
            filters["status"] = status
        else:
            errors["status"] = [f'"{status}" is not a valid choice.']
    customer = query.get("customer_id")
    if customer:
        try:
            filters["customer_id"] = UUIDField().run_validation(customer)
        except Invalid as exc:
            errors["customer_id"] = list(exc.errors)
    if errors:
        raise ValidationFailed(errors)
    return filters

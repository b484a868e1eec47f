"""Request bodies and filters (DRF-compatible validation) and response bodies of the payments
API (the monolith's ``PaymentListCreateApi`` and friends)."""

from __future__ import annotations

import decimal
from typing import Any

from card_gateway.fake import CARD_TOKEN_MAX_LENGTH, is_card_token
from extracted.chassis.timefmt import format_timestamp
from extracted.chassis.web.validation import (
    MISSING,
    CharField,
    DecimalField,
    Field,
    Invalid,
    Serializer,
    UUIDField,
)
from extracted.payments.models import MONEY_DIGITS, Payment

STATUSES = ("authorized", "declined", "captured", "voided", "refunded")


class MoneyField(DecimalField):
    """A positive amount with at most two places (DRF's messages, then "greater than 0")."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_digits=MONEY_DIGITS, decimal_places=2, **kwargs)

    def to_internal_value(self, data: Any) -> decimal.Decimal:
        value = super().to_internal_value(data)
        if value <= 0:
            raise Invalid(["Ensure this value is greater than 0."])
        return value


class BooleanField(Field):
    """DRF ``BooleanField``: its spellings (strings compared lower-cased), else "Must be a valid
    boolean."."""

    # 1 == True and 0 == 0.0 == False in Python: the numbers are in these sets through the bools.
    TRUE_VALUES: frozenset[object] = frozenset({"t", "y", "yes", "true", "on", "1", True})
    FALSE_VALUES: frozenset[object] = frozenset({"f", "n", "no", "false", "off", "0", False})

    def to_internal_value(self, data: Any) -> bool:
        value = data.lower() if isinstance(data, str) else data
        try:
            if value in self.TRUE_VALUES:
                return True
            if value in self.FALSE_VALUES:
                return False
        except TypeError:  # unhashable (a list or an object)
            pass
        raise Invalid(["Must be a valid boolean."])


class ChoiceField(Field):
    def __init__(self, choices: tuple[str, ...], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.choices = choices

    def to_internal_value(self, data: Any) -> str:
        if str(data) in self.choices:
            return str(data)
        raise Invalid([f'"{data}" is not a valid choice.'])


def _card_token_check(value: str) -> str | None:
    return None if is_card_token(value) else "Not a card token (expected tok_ and [a-z0-9_])."


payment_create_input = Serializer(
    {
        "amount": MoneyField(),
        "card_token": CharField(max_length=CARD_TOKEN_MAX_LENGTH),
        "order_id": UUIDField(required=False, allow_null=True, default=None),
        "customer_id": UUIDField(required=False, allow_null=True, default=None),
        "capture": BooleanField(required=False, default=False),
    },
    checks={"card_token": _card_token_check},
)

refund_create_input = Serializer(
    {"amount": MoneyField(required=False, allow_null=True, default=None)}
)

payment_filters = Serializer(
    {
        "status": ChoiceField(STATUSES, required=False),
        "order_id": UUIDField(required=False),
        "customer_id": UUIDField(required=False),
    }
)


def query_filters(params: Any) -> dict[str, Any]:
    """The filters of a query string as DRF reads a ``QueryDict``: the last value of each key;
    an empty value of an optional field is as if absent."""
    data: dict[str, Any] = {}
    for name in payment_filters.fields:
        values = params.getlist(name)
        if values and values[-1] != "":
            data[name] = values[-1]
    validated = payment_filters.validate(data)
    return {k: v for k, v in validated.items() if v is not MISSING}


def _money(value: decimal.Decimal) -> str:
    return f"{value:.2f}"


def payment_body(payment: Payment) -> dict[str, Any]:
    return {
        "id": str(payment.id),
        "customer_id": str(payment.customer_id),
        "order_id": None if payment.order_id is None else str(payment.order_id),
        "amount": _money(payment.amount),
        "status": payment.status,
        "captured_amount": _money(payment.captured_amount),
        "refunded_amount": _money(payment.refunded_amount),
        "decline_reason": payment.decline_reason,
        "gateway_reference": payment.gateway_reference,
        "refunds": [
            {
                "id": str(refund.id),
                "amount": _money(refund.amount),
                "created_at": format_timestamp(refund.created_at),
            }
            for refund in payment.refunds
        ],
        "version": payment.version,
        "created_at": format_timestamp(payment.created_at),
        "updated_at": format_timestamp(payment.updated_at),
    }

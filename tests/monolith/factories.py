"""Rows for tests, made through the services (so they carry their events), with unique ids per
test; request bodies and paths are ``tests.support.inventory_api``'s."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from monolith.identity.models import User
from monolith.identity.tokens import token_issue
from monolith.inventory.models import Product, Reservation
from monolith.inventory.services import product_create, reservation_create
from monolith.payments.models import Payment
from monolith.payments.services import payment_authorize
from tests.support.random_refs import random_order_id, random_sku, random_suffix


def make_product(
    *, sku: str | None = None, name: str = "Blue mug", price: str = "12.50", on_hand: int = 10
) -> Product:
    return product_create(sku=sku or random_sku(), name=name, price=Decimal(price), on_hand=on_hand)


def make_reservation(lines: list[tuple[str, int]], *, order_id: str | None = None) -> Reservation:
    return reservation_create(order_id=uuid.UUID(order_id or random_order_id()), lines=lines)


def make_user(
    *, username: str | None = None, is_staff: bool = False, password: str | None = None
) -> User:
    """An account; without ``password`` it cannot log in (tests mint tokens with ``bearer``)."""
    user = User(username=username or f"user-{random_suffix()}", is_staff=is_staff)
    if password is None:
        user.set_unusable_password()
    else:
        user.set_password(password)
    user.save()
    return user


def bearer(user: User, **token_options: Any) -> dict[str, str]:
    """The ``Authorization`` header of ``user`` (``token_issue`` options: ``ttl_s``, ``now``)."""
    return {"Authorization": f"Bearer {token_issue(user=user, **token_options).access_token}"}


def make_payment(
    *,
    customer_id: uuid.UUID | None = None,
    amount: str = "20.00",
    card_token: str = "tok_visa",
    capture: bool = False,
    order_id: uuid.UUID | None = None,
) -> Payment:
    """A payment through ``payment_authorize`` (authorised, or captured with ``capture``)."""
    return payment_authorize(
        customer_id=customer_id or uuid.uuid4(),
        amount=Decimal(amount),
        card_token=card_token,
        order_id=order_id,
        capture=capture,
    )

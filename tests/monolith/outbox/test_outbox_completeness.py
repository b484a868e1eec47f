"""No write without its event, no event without its write.

Every write operation of the API contract (read from the served OpenAPI document, so a new write
endpoint without a scenario here fails) is exercised twice: once as a dry run, which must leave
no row and no event behind (its transaction rolls back), and once for real, after which every
aggregate row of every capability has exactly one event per version (1, 2, ... its version, in
commit order) and its latest event carries its current state.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import yaml
from django.db import models
from django.test import Client

from monolith.dry_run import HEADER as DRY_RUN
from monolith.identity.models import User
from monolith.inventory.models import Product, Reservation
from monolith.inventory.states import product_state, reservation_state
from monolith.orders.models import Order
from monolith.orders.states import order_state
from monolith.outbox.models import OutboxEvent
from monolith.payments.models import Payment
from monolith.payments.states import payment_state
from tests.monolith.api_client import JsonClient
from tests.support.random_refs import random_sku

pytestmark = pytest.mark.django_db

#: aggregate type -> (model, its key field, its state payload)
AGGREGATES: dict[str, tuple[type[models.Model], str, Callable[[Any], dict[str, Any]]]] = {
    "product": (Product, "sku", product_state),
    "reservation": (Reservation, "id", reservation_state),
    "payment": (Payment, "id", payment_state),
    "order": (Order, "id", order_state),
}

#: Write operations that write no aggregate (and why).
NOT_AGGREGATE_WRITES = {("post", "/api/auth/token/"): "issues a token; writes nothing"}


@dataclass(frozen=True)
class Request:
    path: str
    body: dict[str, Any]
    status: int


class World:
    """Prerequisites made through the API itself (so they carry their events too)."""

    def __init__(self, staff_api: JsonClient, customer: User) -> None:
        self.api = staff_api
        self.customer = customer

    def _post(self, path: str, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
        answer = self.api.post(path, body)
        assert answer.status == status, (path, answer.body)
        result: dict[str, Any] = answer.body
        return result

    def product(self, on_hand: int = 10) -> str:
        sku = random_sku()
        self._post(
            "/api/inventory/products/",
            {"sku": sku, "name": "Mug", "price": "12.50", "on_hand": on_hand},
        )
        return sku

    def reservation(self) -> str:
        body = {"order_id": str(uuid.uuid4()), "lines": [{"sku": self.product(), "quantity": 2}]}
        return str(self._post("/api/inventory/reservations/", body)["id"])

    def payment(self, *, capture: bool) -> str:
        body = {
            "amount": "30.00",
            "card_token": "tok_visa",
            "customer_id": str(self.customer.id),
            "capture": capture,
        }
        return str(self._post("/api/payments/", body)["id"])

    def order(self) -> str:
        return str(self._post("/api/orders/", self.checkout(self.product()))["id"])

    def checkout(self, sku: str, card_token: str = "tok_visa", quantity: int = 1) -> dict[str, Any]:
        return {
            "customer_id": str(self.customer.id),
            "lines": [{"sku": sku, "quantity": quantity}],
            "card_token": card_token,
        }


SCENARIOS: dict[tuple[str, str], dict[str, Callable[[World], Request]]] = {
    ("post", "/api/inventory/products/"): {
        "create": lambda w: Request(
            "/api/inventory/products/",
            {"sku": random_sku(), "name": "Cup", "price": "3.10", "on_hand": 4},
            201,
        ),
    },
    ("post", "/api/inventory/products/{sku}/adjustments/"): {
        "adjust": lambda w: Request(
            f"/api/inventory/products/{w.product()}/adjustments/",
            {"delta": -3, "reason": "breakage"},
            200,
        ),
    },
    ("post", "/api/inventory/reservations/"): {
        "reserve": lambda w: Request(
            "/api/inventory/reservations/",
            {"order_id": str(uuid.uuid4()), "lines": [{"sku": w.product(), "quantity": 1}]},
            201,
        ),
    },
    ("post", "/api/inventory/reservations/{reservation_id}/commit/"): {
        "commit": lambda w: Request(
            f"/api/inventory/reservations/{w.reservation()}/commit/", {}, 200
        ),
    },
    ("post", "/api/inventory/reservations/{reservation_id}/release/"): {
        "release": lambda w: Request(
            f"/api/inventory/reservations/{w.reservation()}/release/", {}, 200
        ),
    },
    ("post", "/api/payments/"): {
        "authorise": lambda w: Request(
            "/api/payments/",
            {"amount": "9.99", "card_token": "tok_visa", "customer_id": str(w.customer.id)},
            201,
        ),
        "authorise and capture": lambda w: Request(
            "/api/payments/",
            {
                "amount": "9.99",
                "card_token": "tok_mastercard",
                "customer_id": str(w.customer.id),
                "capture": True,
            },
            201,
        ),
        "declined (the attempt is stored)": lambda w: Request(
            "/api/payments/",
            {
                "amount": "9.99",
                "card_token": "tok_decline_insufficient_funds",
                "customer_id": str(w.customer.id),
            },
            402,
        ),
    },
    ("post", "/api/payments/{payment_id}/capture/"): {
        "capture": lambda w: Request(f"/api/payments/{w.payment(capture=False)}/capture/", {}, 200),
    },
    ("post", "/api/payments/{payment_id}/void/"): {
        "void": lambda w: Request(f"/api/payments/{w.payment(capture=False)}/void/", {}, 200),
    },
    ("post", "/api/payments/{payment_id}/refunds/"): {
        "partial refund": lambda w: Request(
            f"/api/payments/{w.payment(capture=True)}/refunds/", {"amount": "10.00"}, 201
        ),
        "full refund": lambda w: Request(
            f"/api/payments/{w.payment(capture=True)}/refunds/", {}, 201
        ),
    },
    ("post", "/api/orders/"): {
        "checkout": lambda w: Request("/api/orders/", w.checkout(w.product()), 201),
        "declined checkout (a cancelled order)": lambda w: Request(
            "/api/orders/", w.checkout(w.product(), card_token="tok_decline_card_declined"), 402
        ),
        "short checkout (a cancelled order)": lambda w: Request(
            "/api/orders/", w.checkout(w.product(on_hand=1), quantity=2), 409
        ),
    },
    ("post", "/api/orders/{order_id}/cancel/"): {
        "cancel": lambda w: Request(f"/api/orders/{w.order()}/cancel/", {}, 200),
    },
    ("post", "/api/orders/{order_id}/fulfil/"): {
        "fulfil": lambda w: Request(f"/api/orders/{w.order()}/fulfil/", {}, 200),
    },
}

CASES = [
    pytest.param(operation, name, id=f"{operation[1]} {name}")
    for operation, named in SCENARIOS.items()
    for name in named
]


def _write_operations() -> set[tuple[str, str]]:
    document = yaml.safe_load(Client().get("/api/schema/").content)
    return {
        (method, path)
        for path, operations in document["paths"].items()
        for method in operations
        if method in {"post", "put", "patch", "delete"}
    }


def _snapshot() -> tuple[int, dict[tuple[str, str], int]]:
    versions = {
        (kind, str(key)): version
        for kind, (model, key_field, _) in AGGREGATES.items()
        for key, version in model.objects.values_list(key_field, "version")  # type: ignore[attr-defined]
    }
    return OutboxEvent.objects.count(), versions


def assert_every_version_has_its_event() -> None:
    for kind, (model, key_field, state) in AGGREGATES.items():
        keys = set()
        for row in model.objects.all():  # type: ignore[attr-defined]
            key = str(getattr(row, key_field))
            keys.add(key)
            events = list(
                OutboxEvent.objects.filter(aggregate_type=kind, aggregate_id=key).order_by("seq")
            )
            assert [e.version for e in events] == list(range(1, row.version + 1)), (kind, key)
            assert events[-1].payload == state(row), (kind, key)
        orphans = (
            set(
                OutboxEvent.objects.filter(aggregate_type=kind).values_list(
                    "aggregate_id", flat=True
                )
            )
            - keys
        )
        assert not orphans, f"{kind} events without a row: {orphans}"


def test_every_write_operation_of_the_contract_has_a_scenario() -> None:
    uncovered = _write_operations() - set(SCENARIOS) - set(NOT_AGGREGATE_WRITES)
    assert not uncovered, f"write operations without an outbox scenario: {sorted(uncovered)}"
    assert set(SCENARIOS) <= _write_operations(), "a scenario for an operation that is gone"


@pytest.mark.parametrize(("operation", "name"), CASES)
def test_a_dry_run_leaves_nothing_and_the_write_leaves_one_event_per_version(
    operation: tuple[str, str], name: str, staff_api: JsonClient, customer: User
) -> None:
    world = World(staff_api, customer)
    request = SCENARIOS[operation][name](world)
    before = _snapshot()

    dry = staff_api.post(request.path, request.body, headers={DRY_RUN: "1"})

    assert dry.status == request.status, dry.body
    assert _snapshot() == before, "a rolled-back write left a row or an event behind"

    real = staff_api.post(request.path, request.body)

    assert real.status == request.status, real.body
    events_after, versions_after = _snapshot()
    assert events_after > before[0], "the write recorded no event"
    assert versions_after != before[1]
    assert_every_version_has_its_event()

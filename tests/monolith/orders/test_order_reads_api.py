"""``GET /api/orders/`` and ``GET /api/orders/{id}/``: a customer sees their own orders only
(another customer's id is answered exactly like an unknown id); staff see all; filters,
pagination and a stable newest-first order."""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone

from monolith.identity.models import User
from monolith.orders.models import Order
from tests.monolith.api_client import JsonClient
from tests.monolith.factories import make_product
from tests.monolith.orders.factories import ORDERS, make_order, order_path

pytestmark = pytest.mark.django_db


def _not_found(order_id: uuid.UUID | str) -> dict[str, str]:
    return {"error": "not_found", "detail": f"Order '{order_id}' not found."}


def test_a_customer_reads_their_order(customer: User, customer_api: JsonClient) -> None:
    order = make_order(customer_id=customer.id)

    resp = customer_api.get(order_path(order.id))

    assert resp.status == 200
    assert resp.body["id"] == str(order.id)
    assert resp.body["status"] == "confirmed"
    assert [line["quantity"] for line in resp.body["lines"]] == [1]


def test_another_customers_order_is_answered_like_an_unknown_id(
    other_customer: User, customer_api: JsonClient
) -> None:
    theirs = make_order(customer_id=other_customer.id)
    unknown = uuid.uuid4()

    resp_theirs = customer_api.get(order_path(theirs.id))
    resp_unknown = customer_api.get(order_path(unknown))

    assert (resp_theirs.status, resp_unknown.status) == (404, 404)
    assert resp_theirs.body == _not_found(theirs.id)
    assert resp_unknown.body == _not_found(unknown)
    assert resp_theirs.headers.keys() == resp_unknown.headers.keys()


def test_staff_read_any_order(customer: User, staff_api: JsonClient) -> None:
    order = make_order(customer_id=customer.id)

    resp = staff_api.get(order_path(order.id))

    assert resp.status == 200
    assert resp.body["customer_id"] == str(customer.id)


def test_reads_need_a_caller(customer: User, api: JsonClient) -> None:
    order = make_order(customer_id=customer.id)

    assert api.get(order_path(order.id)).status == 401
    assert api.get(ORDERS).status == 401


def _ids(resp_body: dict[str, object]) -> list[str]:
    results = resp_body["results"]
    assert isinstance(results, list)
    return [row["id"] for row in results]


def test_a_customer_lists_only_their_orders_newest_first(
    customer: User, other_customer: User, customer_api: JsonClient
) -> None:
    mine = [make_order(customer_id=customer.id) for _ in range(3)]
    make_order(customer_id=other_customer.id)

    resp = customer_api.get(ORDERS)

    assert resp.status == 200
    assert resp.body["count"] == 3
    assert _ids(resp.body) == [str(o.id) for o in reversed(mine)]


def test_a_customer_asking_for_another_customers_orders_gets_none(
    other_customer: User, customer_api: JsonClient
) -> None:
    make_order(customer_id=other_customer.id)

    resp = customer_api.get(ORDERS, data={"customer_id": str(other_customer.id)})

    assert resp.status == 200
    assert (resp.body["count"], resp.body["results"]) == (0, [])


def test_staff_list_everyone_and_filter_by_customer_and_status(
    customer: User, other_customer: User, staff_api: JsonClient
) -> None:
    scarce = make_product(on_hand=1)
    confirmed = make_order(customer_id=customer.id, lines=[(scarce.sku, 1)])
    cancelled = make_order(customer_id=customer.id, lines=[(scarce.sku, 1)])
    theirs = make_order(customer_id=other_customer.id)
    assert (confirmed.status, cancelled.status) == ("confirmed", "cancelled")

    everyone = staff_api.get(ORDERS)
    by_customer = staff_api.get(ORDERS, data={"customer_id": str(customer.id)})
    by_status = staff_api.get(ORDERS, data={"status": "cancelled"})
    both = staff_api.get(
        ORDERS, data={"status": "confirmed", "customer_id": str(other_customer.id)}
    )

    assert _ids(everyone.body) == [str(theirs.id), str(cancelled.id), str(confirmed.id)]
    assert _ids(by_customer.body) == [str(cancelled.id), str(confirmed.id)]
    assert _ids(by_status.body) == [str(cancelled.id)]
    assert _ids(both.body) == [str(theirs.id)]


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ({"status": "lost"}, {"status": ['"lost" is not a valid choice.']}),
        ({"customer_id": "nobody"}, {"customer_id": ["Must be a valid UUID."]}),
    ],
)
def test_bad_filters_are_field_errors(
    staff_api: JsonClient, query: dict[str, str], fields: dict[str, list[str]]
) -> None:
    resp = staff_api.get(ORDERS, data=query)

    assert resp.status == 400
    assert resp.body == {"error": "validation_error", "detail": "Invalid input.", "fields": fields}


def test_pages_walk_every_order_once_in_a_stable_order_ties_broken_by_id(
    customer: User, customer_api: JsonClient
) -> None:
    orders = [make_order(customer_id=customer.id) for _ in range(5)]
    # Three orders placed in the same microsecond: the id (descending) decides among them.
    same_time = timezone.now()
    Order.objects.filter(id__in=[o.id for o in orders[1:4]]).update(created_at=same_time)
    rows = Order.objects.filter(customer_id=customer.id).values_list("created_at", "id")
    expected = [str(order_id) for _, order_id in sorted(rows, reverse=True)]

    pages: list[str] = []
    page_bodies = []
    for page in (1, 2, 3):
        resp = customer_api.get(ORDERS, data={"page": page, "page_size": 2})
        assert resp.status == 200
        page_bodies.append(resp.body)
        pages += _ids(resp.body)

    assert pages == expected
    assert [body["count"] for body in page_bodies] == [5, 5, 5]
    assert page_bodies[2]["next"] is None
    assert customer_api.get(ORDERS, data={"page": 4, "page_size": 2}).status == 404

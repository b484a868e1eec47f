"""The Django admin shows payments and idempotency records and moves money only through the
payment services (each action records its event)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from contracts import events
from monolith.outbox.models import OutboxEvent
from monolith.payments.models import Payment
from tests.monolith.factories import make_payment

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_(django_user_model: Any) -> Client:
    user = django_user_model.objects.create_superuser("admin", "admin@example.com", "pw-admin-1")
    client = Client()
    client.force_login(user)
    return client


def _action(client: Client, action: str, payments: list[Payment]) -> Any:
    return client.post(
        "/admin/payments/payment/",
        {"action": action, "_selected_action": [str(p.id) for p in payments]},
        follow=True,
    )


def test_the_payment_pages_render_with_refunds(admin_client_: Client) -> None:
    payment = make_payment(capture=True)
    assert admin_client_.get("/admin/payments/payment/").status_code == 200
    assert admin_client_.get(f"/admin/payments/payment/{payment.id}/change/").status_code == 200
    assert admin_client_.get("/admin/payments/payment/add/").status_code == 403
    assert admin_client_.get("/admin/idempotency/idempotencyrecord/").status_code == 200


@pytest.mark.parametrize(
    ("action", "capture", "status", "event_type"),
    [
        ("capture_selected", False, "captured", events.PAYMENT_CAPTURED),
        ("void_selected", False, "voided", events.PAYMENT_VOIDED),
        ("refund_selected", True, "refunded", events.PAYMENT_REFUNDED),
    ],
)
def test_actions_go_through_the_services_and_skip_payments_in_other_states(
    admin_client_: Client, action: str, capture: bool, status: str, event_type: str
) -> None:
    eligible = make_payment(capture=capture)
    other = make_payment(card_token="tok_decline_x")
    resp = _action(admin_client_, action, [eligible, other])
    assert resp.status_code == 200
    assert b"1 payment(s)" in resp.content
    assert Payment.objects.get(id=eligible.id).status == status
    assert Payment.objects.get(id=other.id).version == 1
    event = OutboxEvent.objects.filter(aggregate_id=str(eligible.id)).order_by("-seq")[0]
    assert (event.event_type, event.version) == (event_type, 2)

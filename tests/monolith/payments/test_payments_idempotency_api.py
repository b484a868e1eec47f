"""``Idempotency-Key`` on the payments' writes over HTTP, including duplicates racing on real
concurrent PostgreSQL connections."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from monolith.idempotency.models import IdempotencyRecord
from monolith.identity.models import User
from monolith.outbox.models import OutboxEvent
from monolith.payments.gateway import gateway_charge_count
from monolith.payments.models import Payment, Refund
from tests.monolith.api_client import JsonClient, JsonResponse
from tests.monolith.databases import require_postgres
from tests.monolith.factories import make_payment
from tests.monolith.races import hold_inserts_into, race
from tests.support.payments_api import PAYMENTS, idempotency_key, payment_body, payment_path


def _payments_of(user: User) -> int:
    return Payment.objects.filter(customer_id=user.id).count()


@pytest.mark.django_db
class TestReplay:
    def test_the_same_key_twice_charges_once_and_replays_the_same_body(
        self, customer: User, customer_api: JsonClient
    ) -> None:
        key, charges_before = idempotency_key(), gateway_charge_count()
        first = customer_api.post(PAYMENTS, payment_body(), headers=key)
        again = customer_api.post(PAYMENTS, payment_body(), headers=key)
        assert (first.status, again.status) == (201, 201)
        assert again.raw == first.raw
        assert again.headers["Idempotent-Replayed"] == "true"
        assert "Idempotent-Replayed" not in first.headers
        assert _payments_of(customer) == 1
        assert gateway_charge_count() == charges_before + 1
        assert OutboxEvent.objects.filter(aggregate_id=first.body["id"]).count() == 1

    def test_the_same_key_with_another_body_is_422_and_charges_nothing(
        self, customer: User, customer_api: JsonClient
    ) -> None:
        key = idempotency_key()
        assert customer_api.post(PAYMENTS, payment_body(), headers=key).status == 201
        resp = customer_api.post(PAYMENTS, payment_body(amount="20.01"), headers=key)
        assert resp.status == 422
        assert resp.body == {
            "error": "idempotency_key_reused",
            "detail": "This Idempotency-Key was already used for a different request.",
        }
        assert _payments_of(customer) == 1

    def test_a_declined_attempt_is_replayed_not_tried_again(
        self, customer: User, customer_api: JsonClient
    ) -> None:
        key, body = idempotency_key(), payment_body(card_token="tok_decline_do_not_honor")
        first = customer_api.post(PAYMENTS, body, headers=key)
        again = customer_api.post(PAYMENTS, body, headers=key)
        assert (first.status, again.status) == (402, 402)
        assert again.raw == first.raw
        assert again.headers["Idempotent-Replayed"] == "true"
        assert _payments_of(customer) == 1

    def test_a_gateway_error_is_not_kept_so_the_same_request_may_be_retried(
        self, customer: User, customer_api: JsonClient
    ) -> None:
        key = idempotency_key()
        assert (
            customer_api.post(PAYMENTS, payment_body(card_token="tok_error"), headers=key).status
            == 502
        )
        assert not IdempotencyRecord.objects.exists()
        # The key is free again, even for a corrected body.
        retried = customer_api.post(PAYMENTS, payment_body(), headers=key)
        assert (retried.status, "Idempotent-Replayed" in retried.headers) == (201, False)
        assert _payments_of(customer) == 1

    def test_a_validation_error_is_not_kept(self, customer: User, customer_api: JsonClient) -> None:
        key = idempotency_key()
        assert customer_api.post(PAYMENTS, payment_body(amount="0"), headers=key).status == 400
        assert customer_api.post(PAYMENTS, payment_body(), headers=key).status == 201
        assert _payments_of(customer) == 1

    def test_keys_are_per_caller(
        self, customer: User, other_customer: User, api_as: Callable[[User], JsonClient]
    ) -> None:
        key = idempotency_key()
        mine = api_as(customer).post(PAYMENTS, payment_body(), headers=key)
        theirs = api_as(other_customer).post(PAYMENTS, payment_body(), headers=key)
        assert (mine.status, theirs.status) == (201, 201)
        assert mine.body["id"] != theirs.body["id"]
        assert "Idempotent-Replayed" not in theirs.headers

    @pytest.mark.parametrize("key", ["", "has space", "x" * 256, "caf\u00e9"])
    def test_a_malformed_key_is_a_400(
        self, customer: User, customer_api: JsonClient, key: str
    ) -> None:
        resp = customer_api.post(PAYMENTS, payment_body(), headers={"Idempotency-Key": key})
        assert resp.status == 400
        assert resp.body["fields"] == {
            "Idempotency-Key": ["Must be 1 to 255 visible ASCII characters."]
        }
        assert _payments_of(customer) == 0

    def test_a_refund_with_the_same_key_twice_refunds_once(
        self, customer: User, customer_api: JsonClient
    ) -> None:
        payment = make_payment(customer_id=customer.id, amount="10.00", capture=True)
        key, path = idempotency_key(), payment_path(payment.id, "refunds")
        first = customer_api.post(path, {"amount": "4.00"}, headers=key)
        again = customer_api.post(path, {"amount": "4.00"}, headers=key)
        assert (first.status, again.status) == (201, 201)
        assert again.raw == first.raw
        assert Refund.objects.filter(payment_id=payment.id).count() == 1
        assert Payment.objects.get(id=payment.id).refunded_amount == 4

    def test_a_bodiless_refund_of_the_rest_with_a_key_refunds_once(
        self, customer: User, customer_api: JsonClient
    ) -> None:
        payment = make_payment(customer_id=customer.id, amount="10.00", capture=True)
        key, path = idempotency_key(), payment_path(payment.id, "refunds")
        first = customer_api.post(path, headers=key)
        again = customer_api.post(path, headers=key)
        assert (first.status, again.status, again.raw) == (201, 201, first.raw)
        assert first.body["status"] == "refunded"
        assert Refund.objects.filter(payment_id=payment.id).count() == 1

    def test_a_refused_refund_is_kept_as_refused(
        self, customer: User, customer_api: JsonClient
    ) -> None:
        payment = make_payment(customer_id=customer.id, amount="10.00", capture=True)
        key, path = idempotency_key(), payment_path(payment.id, "refunds")
        assert customer_api.post(path, {"amount": "11.00"}, headers=key).status == 409
        replay = customer_api.post(path, {"amount": "11.00"}, headers=key)
        assert (replay.status, replay.body["refundable"]) == (409, "10.00")
        assert replay.headers["Idempotent-Replayed"] == "true"

    def test_a_dry_run_keeps_no_record(self, customer: User, customer_api: JsonClient) -> None:
        key = idempotency_key()
        dry = {**key, "X-Strangler-Dry-Run": "1"}
        assert customer_api.post(PAYMENTS, payment_body(), headers=dry).status == 201
        real = customer_api.post(PAYMENTS, payment_body(), headers=key)
        assert (real.status, "Idempotent-Replayed" in real.headers) == (201, False)
        assert _payments_of(customer) == 1


# --- racing duplicates ----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_with_one_key_make_exactly_one_payment_on_postgres(
    customer: User, api_as: Callable[[User], JsonClient]
) -> None:
    require_postgres()
    key, body, charges_before = (
        idempotency_key(),
        payment_body(capture=True),
        gateway_charge_count(),
    )

    def send() -> JsonResponse:
        return api_as(customer).post(PAYMENTS, body, headers=key)

    outcomes = race([send] * 4, hold=hold_inserts_into("payments_payment"))

    responses = [o for o in outcomes if isinstance(o, JsonResponse)]
    assert len(responses) == 4, outcomes
    assert [r.status for r in responses] == [201] * 4
    assert len({r.raw for r in responses}) == 1
    assert sorted(r.headers.get("Idempotent-Replayed", "") for r in responses) == [
        "",
        "true",
        "true",
        "true",
    ]
    assert _payments_of(customer) == 1
    assert gateway_charge_count() == charges_before + 1
    assert IdempotencyRecord.objects.filter(principal_id=customer.id).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_reusing_a_key_for_another_body_get_422_on_postgres(
    customer: User, api_as: Callable[[User], JsonClient]
) -> None:
    require_postgres()
    key = idempotency_key()

    def send(amount: str) -> Callable[[], JsonResponse]:
        return lambda: api_as(customer).post(PAYMENTS, payment_body(amount=amount), headers=key)

    outcomes = race([send("10.00"), send("11.00")], hold=hold_inserts_into("payments_payment"))

    statuses = sorted(o.status for o in outcomes if isinstance(o, JsonResponse))
    assert statuses == [201, 422], outcomes
    assert _payments_of(customer) == 1

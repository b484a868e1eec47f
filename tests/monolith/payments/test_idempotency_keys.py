"""``monolith.idempotency``: one run per key and principal, replays, refusals and the purge,
driven with real DRF requests and real writes on PostgreSQL (the HTTP-level tests and the
concurrent ones live in test_payments_idempotency_api.py)."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory

from monolith.idempotency.errors import IdempotencyKeyReused, InvalidIdempotencyKey
from monolith.idempotency.keys import idempotent, request_fingerprint
from monolith.idempotency.models import IdempotencyRecord
from monolith.idempotency.services import idempotency_purge
from monolith.identity.principal import Principal
from monolith.payments.errors import RefundExceedsCaptured
from monolith.payments.models import Payment
from tests.monolith.factories import make_payment
from tests.support.random_refs import random_suffix

pytestmark = pytest.mark.django_db

PATH = "/api/payments/"


def _principal() -> Principal:
    return Principal(id=uuid.uuid4(), username=f"user-{random_suffix()}", is_staff=False)


def _request(body: Any, key: str | None, path: str = PATH) -> Request:
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    django_request = APIRequestFactory().post(path, body, format="json", **headers)
    return Request(django_request, parsers=[JSONParser()])


def _create_payment(principal: Principal, status: int = 201) -> Response:
    payment = make_payment(customer_id=principal.id)
    return Response({"id": str(payment.id), "amount": "20.00"}, status=status)


def test_the_same_key_and_request_runs_once_and_replays_the_first_answer() -> None:
    principal, key = _principal(), f"key-{random_suffix()}"
    first = idempotent(
        _request({"amount": "20.00"}, key), principal, lambda: _create_payment(principal)
    )
    again = idempotent(
        _request({"amount": "20.00"}, key), principal, lambda: _create_payment(principal)
    )
    assert Payment.objects.filter(customer_id=principal.id).count() == 1
    assert isinstance(first, Response) and isinstance(again, Response)
    assert (again.status_code, again.data) == (201, first.data)
    assert again["Idempotent-Replayed"] == "true"
    assert not first.has_header("Idempotent-Replayed")


def test_a_canonically_equal_body_is_the_same_request() -> None:
    principal, key = _principal(), f"key-{random_suffix()}"
    idempotent(_request({"a": 1, "b": [1, 2]}, key), principal, lambda: _create_payment(principal))
    again = idempotent(
        _request({"b": [1, 2], "a": 1}, key), principal, lambda: _create_payment(principal)
    )
    assert again["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize(
    ("body", "path"), [({"amount": "20.01"}, PATH), ({"amount": "20.00"}, PATH + "x/")]
)
def test_the_same_key_with_another_request_is_refused(body: dict[str, str], path: str) -> None:
    principal, key = _principal(), f"key-{random_suffix()}"
    idempotent(_request({"amount": "20.00"}, key), principal, lambda: _create_payment(principal))
    with pytest.raises(IdempotencyKeyReused):
        idempotent(_request(body, key, path), principal, lambda: _create_payment(principal))
    assert Payment.objects.filter(customer_id=principal.id).count() == 1


def test_keys_belong_to_their_principal() -> None:
    first, second, key = _principal(), _principal(), f"key-{random_suffix()}"
    idempotent(_request({}, key), first, lambda: _create_payment(first))
    answer = idempotent(_request({}, key), second, lambda: _create_payment(second))
    assert not answer.has_header("Idempotent-Replayed")
    assert Payment.objects.filter(customer_id__in=[first.id, second.id]).count() == 2


def test_without_a_key_every_request_runs() -> None:
    principal = _principal()
    for _ in range(2):
        idempotent(_request({}, None), principal, lambda: _create_payment(principal))
    assert Payment.objects.filter(customer_id=principal.id).count() == 2
    assert not IdempotencyRecord.objects.filter(principal_id=principal.id).exists()


@pytest.mark.parametrize("key", ["", "a b", "é", "tab\there", "x" * 256])
def test_malformed_keys_are_refused(key: str) -> None:
    principal = _principal()
    with pytest.raises(InvalidIdempotencyKey):
        idempotent(_request({}, key), principal, lambda: _create_payment(principal))
    assert not Payment.objects.filter(customer_id=principal.id).exists()


def test_the_longest_key_and_every_visible_character_are_accepted() -> None:
    principal = _principal()
    for key in ("x" * 255, "".join(chr(c) for c in range(0x21, 0x7F))):
        answer = idempotent(_request({}, key), principal, lambda: _create_payment(principal))
        assert answer.status_code == 201


@pytest.mark.parametrize("status", [400, 403, 404, 500, 502])
def test_refused_or_failed_answers_are_not_kept_so_the_key_can_be_retried(status: int) -> None:
    principal, key = _principal(), f"key-{random_suffix()}"
    refused = idempotent(
        _request({}, key), principal, lambda: Response({"error": "x"}, status=status)
    )
    assert refused.status_code == status
    assert not IdempotencyRecord.objects.filter(principal_id=principal.id).exists()
    retried = idempotent(_request({}, key), principal, lambda: _create_payment(principal))
    assert (retried.status_code, retried.has_header("Idempotent-Replayed")) == (201, False)


def test_a_raised_domain_refusal_becomes_its_answer_and_a_kept_409_is_replayed() -> None:
    principal, key = _principal(), f"key-{random_suffix()}"

    def refuse() -> Response:
        raise RefundExceedsCaptured(Decimal("7.50"))

    first = idempotent(_request({}, key), principal, refuse)
    assert isinstance(first, Response)
    assert (first.status_code, first.data["error"], first.data["refundable"]) == (
        409,
        "refund_exceeds_captured",
        "7.50",
    )
    again = idempotent(_request({}, key), principal, lambda: _create_payment(principal))
    assert isinstance(again, Response)
    assert (again.status_code, again.data, again["Idempotent-Replayed"]) == (
        409,
        first.data,
        "true",
    )


def test_a_handler_crash_rolls_back_its_writes_and_the_record() -> None:
    principal, key = _principal(), f"key-{random_suffix()}"

    def crash() -> Response:
        _create_payment(principal)
        raise RuntimeError("bug")

    with pytest.raises(RuntimeError):
        idempotent(_request({}, key), principal, crash)
    assert not Payment.objects.filter(customer_id=principal.id).exists()
    assert not IdempotencyRecord.objects.filter(principal_id=principal.id).exists()


def test_the_fingerprint_covers_method_path_and_canonical_body() -> None:
    base = request_fingerprint(method="POST", path=PATH, body={"a": "1", "b": 2})
    assert base == request_fingerprint(method="post", path=PATH, body={"b": 2, "a": "1"})
    assert base != request_fingerprint(method="PUT", path=PATH, body={"a": "1", "b": 2})
    assert base != request_fingerprint(method="POST", path=PATH + "1/", body={"a": "1", "b": 2})
    assert base != request_fingerprint(method="POST", path=PATH, body={"a": 1, "b": 2})


def _aged_record(principal: Principal, hours: float) -> IdempotencyRecord:
    return IdempotencyRecord.objects.create(
        principal_id=principal.id,
        key=f"key-{random_suffix()}",
        fingerprint="0" * 64,
        method="POST",
        path=PATH,
        status_code=201,
        response_body="{}",
        created_at=timezone.now() - timedelta(hours=hours),
    )


def test_the_purge_deletes_records_older_than_a_day_only() -> None:
    principal = _principal()
    old, recent = _aged_record(principal, 25), _aged_record(principal, 23)
    assert idempotency_purge() == 1
    remaining = IdempotencyRecord.objects.filter(principal_id=principal.id)
    assert [r.id for r in remaining] == [recent.id]
    assert not IdempotencyRecord.objects.filter(id=old.id).exists()


def test_the_purge_command_reports_and_refuses_a_negative_age() -> None:
    principal = _principal()
    _aged_record(principal, 3)
    out = io.StringIO()
    call_command("purge_idempotency_keys", "--hours", "2", stdout=out)
    assert out.getvalue() == "idempotency records purged: 1\n"
    with pytest.raises(CommandError, match=r"--hours must be 0 or more, got -1\.0"):
        call_command("purge_idempotency_keys", "--hours", "-1")

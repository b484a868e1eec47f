"""The domain's refusals get their answer at the HTTP edge: every code a service raises has its
status, and the body is the contract's one shape (``error``, ``detail``, then the extra keys)."""

from __future__ import annotations

import json

from extracted.chassis.domain_errors import DomainError, RuleValidationError
from extracted.chassis.sync.direction import CapabilityFrozen
from extracted.chassis.web.errors import STATUS_BY_CODE, refusal
from extracted.inventory import services as inventory_services
from extracted.orders import idempotency as orders_idempotency
from extracted.payments import errors as payments_errors


def _kinds(cls: type[DomainError]) -> set[type[DomainError]]:
    below = set(cls.__subclasses__())
    return below.union(*(_kinds(sub) for sub in below))


def test_every_refusal_the_services_raise_has_its_status() -> None:
    kinds = _kinds(DomainError)
    assert {
        inventory_services.InsufficientStock,
        orders_idempotency.KeyReused,
        payments_errors.PaymentDeclined,
        CapabilityFrozen,
    } <= kinds
    assert {kind.__name__ for kind in kinds if kind.code not in STATUS_BY_CODE} == set()


def test_a_refusal_answers_with_the_contracts_body_and_status() -> None:
    answer = refusal(payments_errors.PaymentNotInState("captured", expected="authorized"))
    assert answer.status_code == 409
    assert answer.body() == {
        "error": "invalid_state",
        "detail": "Payment is captured, expected authorized.",
        "status": "captured",
    }
    fields = refusal(RuleValidationError({"b": ["No."], "a": ["No."]})).response()
    assert fields.status_code == 400
    assert json.loads(bytes(fields.body)) == {
        "error": "validation_error",
        "detail": "Invalid input.",
        "fields": {"a": ["No."], "b": ["No."]},
    }
    assert list(json.loads(bytes(fields.body))["fields"]) == ["a", "b"]


def test_a_temporary_refusal_says_when_to_retry() -> None:
    frozen = refusal(CapabilityFrozen("inventory"))
    assert frozen.status_code == 503 and frozen.code == "unavailable"
    assert frozen.headers["Retry-After"].isdigit()

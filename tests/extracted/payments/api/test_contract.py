"""The service held to the checked-in contract (``contracts/openapi.yaml``, generated from the
monolith's views): the same payment paths and methods, and every answer's body valid against
the schema the contract gives for that path, method and status."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import httpx
import jsonschema
import pytest
import yaml
from starlette.routing import Route

from extracted.payments.api import payments
from monolith.identity.models import User
from tests.extracted.asgi_client import BlockingASGIClient
from tests.extracted.payments.api.helpers import act, create_payment
from tests.extracted.payments.conftest import bearer
from tests.support.payments_api import PAYMENTS, idempotency_key, payment_body, payment_path
from tests.support.processes import REPO_ROOT

CONTRACT = REPO_ROOT / "contracts" / "openapi.yaml"


@cache
def contract() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(CONTRACT.read_text(encoding="utf-8"))
    return document


def _as_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema -> JSON Schema: ``$ref`` inlined, ``nullable`` as a null type."""
    if isinstance(node, list):
        return [_as_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = node["$ref"].removeprefix("#/components/schemas/")
        return _as_json_schema(contract()["components"]["schemas"][name])
    converted = {k: _as_json_schema(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable"):
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


def check_against_contract(template: str, response: httpx.Response) -> None:
    method = response.request.method.lower()
    operation = contract()["paths"][template][method]
    answers = operation["responses"]
    status = str(response.status_code)
    assert status in answers, f"{method} {template}: {status} is not in the contract"
    schema = answers[status]["content"]["application/json"]["schema"]
    jsonschema.validate(response.json(), _as_json_schema(schema))


def test_the_service_routes_the_contracts_payment_paths() -> None:
    served = {
        (re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path), method.lower())
        for route in payments.router.routes
        if isinstance(route, Route) and route.path.startswith(PAYMENTS)
        for method in route.methods or ()
        if method != "HEAD"
    }
    documented = {
        (path, method)
        for path, operations in contract()["paths"].items()
        if path.startswith(PAYMENTS)
        for method in operations
    }
    assert served == documented


@pytest.mark.parametrize("broken", [{"amount": "x"}, {"status": 7}])
def test_the_contract_check_can_fail(broken: dict[str, Any]) -> None:
    schema = _as_json_schema({"$ref": "#/components/schemas/PaymentOutput"})
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"id": "x", **broken}, schema)


def test_every_answer_has_the_contracts_shape(
    client: BlockingASGIClient, customer: User, other_customer: User
) -> None:
    one, detail = PAYMENTS + "{payment_id}/", "/api/payments/{payment_id}/"
    auth = bearer(customer)
    created = client.post(PAYMENTS, json=payment_body(), headers=auth)
    check_against_contract(PAYMENTS, created)
    pid = created.json()["id"]
    key = {**auth, **idempotency_key()}
    check_against_contract(PAYMENTS, client.post(PAYMENTS, json=payment_body(), headers=key))
    check_against_contract(
        PAYMENTS, client.post(PAYMENTS, json=payment_body(amount="1.00"), headers=key)
    )  # 422
    for card in ("tok_decline_x", "tok_error", "bad"):
        check_against_contract(
            PAYMENTS, client.post(PAYMENTS, json=payment_body(card_token=card), headers=auth)
        )
    check_against_contract(PAYMENTS, client.get(PAYMENTS, headers=auth))
    check_against_contract(PAYMENTS, client.get(PAYMENTS))  # 401
    check_against_contract(detail, client.get(payment_path(pid), headers=auth))
    check_against_contract(detail, client.get(payment_path(pid), headers=bearer(other_customer)))
    check_against_contract(one + "capture/", act(client, customer, pid, "capture"))
    check_against_contract(one + "void/", act(client, customer, pid, "void"))  # 409
    check_against_contract(
        one + "refunds/", act(client, customer, pid, "refunds", json={"amount": "5.00"})
    )
    check_against_contract(
        one + "refunds/", act(client, customer, pid, "refunds", json={"amount": "99.00"})
    )
    other = create_payment(client, customer)
    check_against_contract(one + "refunds/", act(client, customer, other["id"], "refunds"))

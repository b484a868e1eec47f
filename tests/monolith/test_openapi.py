"""The OpenAPI contract: generated from the views, served by the monolith, and checked in as
``contracts/openapi.yaml`` (the file extracted services are held to). Any drift fails here;
``make openapi`` regenerates the file after a deliberate change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import call_command
from django.test import Client

CONTRACT = Path(__file__).resolve().parents[2] / "contracts" / "openapi.yaml"


@pytest.fixture(scope="module")
def served() -> dict[str, Any]:
    response = Client().get("/api/schema/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    document: dict[str, Any] = yaml.safe_load(response.content)
    return document


def test_the_served_schema_is_the_checked_in_contract(served: dict[str, Any]) -> None:
    checked_in = yaml.safe_load(CONTRACT.read_text(encoding="utf-8"))
    assert served == checked_in, "the API changed: run `make openapi` and review the diff"


def test_the_schema_generates_without_warnings(tmp_path: Path) -> None:
    """Every view describes itself: an undocumented body or an ambiguous name fails."""
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "s.yaml"))


def test_every_public_path_is_in_the_contract_and_nothing_internal(
    served: dict[str, Any],
) -> None:
    paths = set(served["paths"])
    assert {
        "/api/auth/token/",
        "/api/inventory/products/",
        "/api/payments/",
        "/api/payments/{payment_id}/refunds/",
        "/api/orders/",
        "/api/orders/{order_id}/cancel/",
    } <= paths
    assert all(path.startswith("/api/") for path in paths)
    assert "/api/schema/" not in paths


def test_owned_resources_require_a_bearer_token(served: dict[str, Any]) -> None:
    for path, operations in served["paths"].items():
        if path.startswith(("/api/orders/", "/api/payments/")):
            for method, operation in operations.items():
                assert operation.get("security") == [{"bearerAuth": []}], (method, path)
                assert "401" in operation["responses"], (method, path)

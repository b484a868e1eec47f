"""Parity: the orders scenario replayed against the real monolith and the real orders service
(which reserves in the real inventory service and charges through the monolith's payments
endpoints) finds no difference, across every status the contract answers with; and the harness
does find one when there is one.

The runner is the one behind `strangler compare` (proxy.scenario).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from proxy.scenario import Placeholders, ScenarioReport, load_scenario, parse_scenario, run_scenario
from tests.parity.test_inventory_parity import explain
from tests.support.inventory_api import PRODUCTS, product_body
from tests.support.orders_stack import (
    OrdersProcess,
    Upstreams,
    orders_deployment,
    running_upstreams,
)
from tests.support.processes import REPO_ROOT

SCENARIO = REPO_ROOT / "proxy" / "scenarios" / "orders.yaml"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def upstreams(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstreams]:
    with running_upstreams(tmp_path_factory.mktemp("orders-parity")) as running:
        yield running


@pytest.fixture(scope="module")
def orders(upstreams: Upstreams) -> Iterator[OrdersProcess]:
    with orders_deployment(upstreams) as deployment:
        yield deployment.start()


@pytest.fixture(scope="module")
def compare_env(upstreams: Upstreams) -> dict[str, str]:
    """A product with the same price and stock on the monolith and in the inventory service,
    and the callers' tokens."""
    body = product_body(price="4.25", on_hand=10)
    for base in (upstreams.monolith_url, upstreams.inventory_url):
        created = httpx.post(f"{base}{PRODUCTS}", json=body, headers=upstreams.staff(), timeout=10)
        assert created.status_code == 201, created.text
    return {
        "COMPARE_TOKEN": upstreams.token(uuid.uuid4()),
        "COMPARE_STAFF_TOKEN": upstreams.token(uuid.uuid4(), staff=True),
        "COMPARE_SKU": body["sku"],
    }


def _compare(
    upstreams: Upstreams, orders: OrdersProcess, env: dict[str, str], text: str | None = None
) -> ScenarioReport:
    scenario = load_scenario(SCENARIO) if text is None else parse_scenario(text)
    return run_scenario(
        scenario,
        monolith_url=upstreams.monolith_url,
        target_url=orders.orders_url,
        placeholders=Placeholders(env=env),
        timeout_s=30,
    )


def test_the_orders_scenario_finds_no_difference(
    upstreams: Upstreams, orders: OrdersProcess, compare_env: dict[str, str]
) -> None:
    report = _compare(upstreams, orders, compare_env)
    assert report.ok, explain(report)
    statuses = {step.expected.status for step in report.steps}
    assert statuses == {200, 201, 400, 401, 402, 403, 404, 405, 409, 502}
    # Dry runs: nothing was kept on either side, upstream included.
    stock = httpx.get(f"{upstreams.inventory_url}{PRODUCTS}{compare_env['COMPARE_SKU']}/").json()
    assert (stock["reserved"], stock["version"]) == (0, 1)


def test_an_order_that_differs_is_found(
    upstreams: Upstreams, orders: OrdersProcess, compare_env: dict[str, str]
) -> None:
    """The harness can fail: a live checkout on the monolith alone, then the same listing
    differs (one order on one side, none on the other)."""
    placed = httpx.post(
        f"{upstreams.monolith_url}/api/orders/",
        json={
            "lines": [{"sku": compare_env["COMPARE_SKU"], "quantity": 1}],
            "card_token": "tok_visa",
        },
        headers={"Authorization": f"Bearer {compare_env['COMPARE_TOKEN']}"},
        timeout=10,
    )
    assert placed.status_code == 201, placed.text
    report = _compare(
        upstreams,
        orders,
        compare_env,
        'steps: [{name: mine, path: /api/orders/, headers: {Authorization: "Bearer '
        '{env:COMPARE_TOKEN}"}}]',
    )
    assert not report.ok
    (step,) = report.steps
    assert "$.count" in {d.where for d in step.differences}

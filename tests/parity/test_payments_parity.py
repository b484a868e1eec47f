"""Parity: the payments scenario replayed against the real monolith and the real payments
service (real processes, fresh PostgreSQL databases, the same payments copied across, tokens
minted by the monolith and verified by the service with its public key alone) finds no
difference, across every status the contract answers with.

The runner is the one behind `strangler compare` (proxy.scenario).
"""

from __future__ import annotations

import httpx

from proxy.scenario import Placeholders, ScenarioReport, load_scenario, parse_scenario, run_scenario
from tests.parity.sides import Sides
from tests.parity.test_inventory_parity import explain
from tests.support.processes import REPO_ROOT
from tests.support.random_refs import random_suffix

SCENARIO = REPO_ROOT / "proxy" / "scenarios" / "payments.yaml"


def _replay_key(sides: Sides) -> str:
    """An Idempotency-Key the other customer used, live, on each side (see the scenario)."""
    key = f"parity-replay-{random_suffix()}"
    headers = {
        "Authorization": f"Bearer {sides.payments_env['COMPARE_OTHER_TOKEN']}",
        "Idempotency-Key": key,
    }
    for base in (sides.monolith_url, sides.payments_url):
        resp = httpx.post(
            f"{base}/api/payments/",
            json={"amount": "5.00", "card_token": "tok_visa"},
            headers=headers,
            timeout=10,
        )
        assert resp.status_code == 201, resp.text
    return key


def _compare(sides: Sides, text: str | None = None, **env: str) -> ScenarioReport:
    scenario = load_scenario(SCENARIO) if text is None else parse_scenario(text)
    return run_scenario(
        scenario,
        monolith_url=sides.monolith_url,
        target_url=sides.payments_url,
        placeholders=Placeholders(env={**sides.payments_env, **env}),
    )


def test_the_payments_scenario_finds_no_difference(sides: Sides) -> None:
    report = _compare(sides, COMPARE_REPLAY_KEY=_replay_key(sides))
    assert report.ok, explain(report)
    # Not vacuous: the scenario reached every kind of answer the contract has.
    statuses = {step.expected.status for step in report.steps}
    assert statuses == {200, 201, 400, 401, 402, 403, 404, 405, 409, 415, 422, 502}
    replayed = next(s for s in report.steps if s.name == "the same key and request is replayed")
    assert replayed.actual.headers.get("idempotent-replayed") == "true"


def test_a_payment_that_differs_is_found(sides: Sides) -> None:
    """The harness can fail: capture a payment on the monolith alone (a write the service never
    saw), then the same read differs in status, amount captured, version and time."""
    payment_id = sides.payments_env["COMPARE_AUTHORIZED"]
    token = sides.payments_env["COMPARE_STAFF_TOKEN"]
    captured = httpx.post(
        f"{sides.monolith_url}/api/payments/{payment_id}/capture/",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert captured.status_code == 200
    report = _compare(
        sides,
        'steps: [{name: read, path: "/api/payments/{env:COMPARE_AUTHORIZED}/", '
        'headers: {Authorization: "Bearer {env:COMPARE_TOKEN}"}}]',
    )
    assert not report.ok
    (step,) = report.steps
    assert {d.where for d in step.differences} == {
        "$.status",
        "$.captured_amount",
        "$.version",
        "$.updated_at",
    }

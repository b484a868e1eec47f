"""Every owner's OpenAPI, fuzzed: schemathesis generates requests from ``contracts/openapi.yaml``
(valid ones and ones that break the schema), each owner answers the operations it owns (the
monolith all of them), and no answer is a 5xx. The examples are bounded and derandomized, so a
run is repeatable and a red run names the request that broke.

Each request carries a staff token (so the fuzzing reaches past the 401 into the bodies and
parameters), and the same example without it goes to an anonymous endpoint as generated.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.core.result import Ok

from tests.security.owners import Rig, Target
from tests.support.processes import REPO_ROOT

CONTRACT = REPO_ROOT / "contracts" / "openapi.yaml"
#: Examples per operation and generation mode: enough to hit each operation's refusals (types,
#: bounds, unknown ids, missing fields), few enough for the whole fuzz to stay within a minute
#: (the token endpoint's password hashing is most of it).
EXAMPLES = 6


def _operations(path: Path) -> list[APIOperation]:
    schema = schemathesis.openapi.from_path(str(path))
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # the contract itself must load whole
        operations.append(result.ok())
    return operations


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as http:
        yield http


def _server_errors(
    operation: APIOperation,
    target: Target,
    headers: dict[str, str],
    http: requests.Session,
    statuses: Counter[int],
) -> list[str]:
    seen: list[str] = []
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @settings(
        max_examples=EXAMPLES * 2,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def run(case: Case) -> None:
        answer = case.call(base_url=target.url, session=http, headers=headers, timeout=30)
        statuses[answer.status_code // 100] += 1
        if answer.status_code >= 500:
            body = answer.text[:300]
            seen.append(
                f"{target.label} {case.method} {case.formatted_path}: {answer.status_code}"
                f" {body} (query={case.query} body={case.body!r:.300})"
            )

    run()
    return seen


@pytest.mark.slow
def test_no_owner_answers_a_fuzzed_request_with_a_server_error(
    owners: Rig, session: requests.Session
) -> None:
    operations = _operations(CONTRACT)
    assert len(operations) >= 20  # the whole contract, not an empty walk
    errors: list[str] = []
    statuses: Counter[int] = Counter()
    for target in owners.targets():
        if target.via_proxy:
            continue  # the proxy forwards; its own refusals have their suite
        headers = {**target.headers, **owners.staff()}
        for operation in operations:
            if target.owns(operation.path):
                errors += _server_errors(operation, target, headers, session, statuses)
    assert errors == []
    # The fuzz got past the front door: requests were served and refused alike.
    assert statuses[2] > 20 and statuses[4] > 100, statuses

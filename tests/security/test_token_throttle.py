"""The token endpoint is throttled per client address and per username, with the stack's rates
configured low: past the rate the answer is the contract's 429 ``throttled`` with a
``Retry-After`` of whole seconds, directly and through the proxy, whichever gunicorn worker
answers (the counts live in the cache every worker shares)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.security.owners import Rig, running_owners
from tests.support.random_refs import random_suffix

PER_CLIENT = 3
PER_USER = 2


@pytest.fixture(scope="module")
def monolith(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with running_owners(
        tmp_path_factory.mktemp("throttle"),
        names=("monolith", "proxy"),
        env={
            "STRANGLER_TOKEN_RATE_CLIENT": f"{PER_CLIENT}/min",
            "STRANGLER_TOKEN_RATE_USER": f"{PER_USER}/min",
        },
    ) as rig:
        yield rig


def _try(url: str, username: str, *, client_address: str | None = None) -> httpx.Response:
    headers = {"Connection": "close"}  # a new connection each time: any worker may answer
    if client_address is not None:
        headers["X-Forwarded-For"] = client_address
    return httpx.post(
        f"{url}/api/auth/token/",
        json={"username": username, "password": "wrong"},
        headers=headers,
        timeout=30,
    )


def _assert_throttled(answer: httpx.Response) -> None:
    assert answer.status_code == 429, answer.text
    body = answer.json()
    assert body["error"] == "throttled" and set(body) == {"error", "detail"}, body
    assert 0 < int(answer.headers["retry-after"]) <= 60


def test_one_client_trying_many_accounts_is_throttled(monolith: Rig) -> None:
    address = "10.1.0.7"
    for attempt in range(PER_CLIENT):
        answer = _try(
            monolith.monolith_url, f"acct-{attempt}-{random_suffix()}", client_address=address
        )
        assert answer.status_code == 401, answer.text
    _assert_throttled(
        _try(monolith.monolith_url, f"acct-x-{random_suffix()}", client_address=address)
    )
    # Another client is not held back by this one.
    assert (
        _try(
            monolith.monolith_url, f"acct-y-{random_suffix()}", client_address="10.2.0.9"
        ).status_code
        == 401
    )


def test_many_clients_trying_one_account_are_throttled(monolith: Rig) -> None:
    username = f"victim-{random_suffix()}"
    for attempt in range(PER_USER):
        answer = _try(monolith.monolith_url, username, client_address=f"10.3.0.{attempt + 1}")
        assert answer.status_code == 401, answer.text
    _assert_throttled(_try(monolith.monolith_url, username, client_address="10.3.0.200"))


def test_the_throttle_holds_through_the_proxy(monolith: Rig) -> None:
    """The proxy replaces a client's X-Forwarded-For with the peer's address: a client cannot
    pick a new address per try to get around the per-client rate."""
    statuses = [
        _try(
            monolith.proxy_url, f"acct-{i}-{random_suffix()}", client_address=f"10.4.0.{i}"
        ).status_code
        for i in range(PER_CLIENT + 1)
    ]
    assert statuses.count(401) == PER_CLIENT and statuses[-1] == 429, statuses
    username = f"victim-{random_suffix()}"
    # Per username too: every try counts against the username, also one the spent per-client
    # rate of the proxied address refuses, so the next try from anywhere is refused.
    for _attempt in range(PER_USER):
        assert _try(monolith.proxy_url, username).status_code == 429
    _assert_throttled(_try(monolith.monolith_url, username, client_address="10.5.0.1"))

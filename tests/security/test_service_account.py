"""The orders service's account holds no long-lived token: it signs in with its password at the
monolith's token endpoint and gets a token of the monolith's usual lifetime, which its client
renews before it expires (``extracted/orders/clients/service_token.py``). Here the lifetime is
61 s, so the renewal (a minute before the end) is due within a second and is awaited."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import jwt
import pytest

from contracts.tokens import MAX_LIFETIME_S
from extracted.orders.clients.service_token import ServiceToken
from strangler.stack import ORDERS_SERVICE_ACCOUNT
from tests.security.owners import Rig, running_owners
from tests.support.waiting import wait_for

TTL_S = 61


@pytest.fixture(scope="module")
def monolith(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with running_owners(
        tmp_path_factory.mktemp("service-account"),
        names=("monolith",),
        env={"STRANGLER_JWT_TTL_S": str(TTL_S)},
    ) as rig:
        yield rig


def _service_token(rig: Rig) -> ServiceToken:
    return ServiceToken(
        fixed=None,
        username=ORDERS_SERVICE_ACCOUNT,
        password=rig.env["ORDERS_SERVICE_PASSWORD"],
        token_url=f"{rig.monolith_url}/api/auth/token/",
    )


def test_the_service_account_signs_in_for_a_short_lived_staff_token(monolith: Rig) -> None:
    token = _service_token(monolith)()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["staff"] is True and claims["username"] == ORDERS_SERVICE_ACCOUNT
    assert claims["exp"] - claims["iat"] == TTL_S <= MAX_LIFETIME_S
    me = httpx.get(f"{monolith.monolith_url}/api/auth/me/", headers=monolith.bearer(token))
    assert (me.status_code, me.json()["is_staff"]) == (200, True)


def test_the_token_is_renewed_before_it_expires(monolith: Rig) -> None:
    source = _service_token(monolith)
    first = source()
    renewed = wait_for(lambda: (t := source()) != first and t, timeout=10, message="a renewal")
    claims = jwt.decode(str(renewed), options={"verify_signature": False})
    first_claims = jwt.decode(first, options={"verify_signature": False})
    assert claims["jti"] != first_claims["jti"] and claims["iat"] >= first_claims["iat"]

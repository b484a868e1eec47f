"""Who may change stock (docs/inventory-api.md, "Who may call"), on both inventory owners, each
directly and through the proxy: every write endpoint of the inventory contract (create a product,
adjust stock, create, commit and release a reservation) refuses

* no token, another scheme, an expired token, one signed by another key (naming the real
  ``kid``), and a customer's token rewritten to staff: the one 401 with ``WWW-Authenticate``;
* a customer's valid token: 403 ``permission_denied``;

before it reads the body or looks the row up, and writes nothing; reads stay open to all of
them. Staff, the orders service's account (signed in with its password, as the saga does) and the
monolith's own account (``monolith.identity.service_token``, as its remote adapters call) write.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings

from contracts.tokens import UNAUTHENTICATED_BODY, WWW_AUTHENTICATE
from extracted.orders.clients.service_token import ServiceToken as PasswordServiceToken
from monolith.identity.service_token import ServiceToken as MonolithServiceToken
from strangler.stack import ORDERS_SERVICE_ACCOUNT
from tests.security.owners import Rig, Target
from tests.support.callers import stack_keys
from tests.support.inventory_api import (
    PRODUCTS,
    RESERVATIONS,
    adjustment_body,
    adjustments_path,
    product_body,
    product_path,
    reservation_body,
    reservation_path,
)

INVENTORY_OWNERS = ("monolith", "inventory")
FORBIDDEN = {"error": "permission_denied", "detail": "Only staff may change stock."}


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as http:
        yield http


def _targets(rig: Rig) -> list[Target]:
    return rig.targets(owners=INVENTORY_OWNERS)


def _expired(rig: Rig) -> str:
    now = int(time.time())
    return rig.token({**rig.claims(staff=True), "iat": now - 3600, "exp": now - 1800})


def _another_key(rig: Rig) -> str:
    return rig.token(rig.claims(staff=True), key=Ed25519PrivateKey.generate())


def _rewritten_to_staff(rig: Rig) -> str:
    header, payload, signature = rig.token(rig.claims()).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["staff"] = True
    raw = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode("ascii")
    return f"{header}.{raw}.{signature}"


#: (name, the Authorization header to send (None: none), the status every write answers).
REFUSED: list[tuple[str, Callable[[Rig], str | None], int]] = [
    ("no token", lambda rig: None, 401),
    ("another scheme", lambda rig: "Basic b3BzOm9wcw==", 401),
    ("expired", lambda rig: f"Bearer {_expired(rig)}", 401),
    ("another key", lambda rig: f"Bearer {_another_key(rig)}", 401),
    ("customer rewritten to staff", lambda rig: f"Bearer {_rewritten_to_staff(rig)}", 401),
    ("customer", lambda rig: f"Bearer {rig.token()}", 403),
]


@pytest.fixture(scope="module")
def sku(owners: Rig) -> str:
    """A product with stock on each inventory owner."""
    body = product_body(on_hand=50)
    for owner in INVENTORY_OWNERS:
        made = httpx.post(f"{owners.owner_url(owner)}{PRODUCTS}", json=body, headers=owners.staff())
        assert made.status_code == 201, made.text
    return str(body["sku"])


def _writes(sku: str) -> list[tuple[str, Any]]:
    """Every write endpoint with a body it would take (the reservations' ids unknown: the
    refusal comes before the lookup)."""
    missing = uuid.uuid4()
    return [
        (PRODUCTS, product_body()),
        (adjustments_path(sku), adjustment_body(delta=-1)),
        (RESERVATIONS, reservation_body([(sku, 1)])),
        (reservation_path(missing, "commit"), None),
        (reservation_path(missing, "release"), None),
    ]


@pytest.mark.parametrize(("name", "authorization", "status"), REFUSED, ids=[r[0] for r in REFUSED])
def test_every_write_refuses_a_caller_who_is_not_staff_and_writes_nothing(
    owners: Rig,
    client: httpx.Client,
    sku: str,
    name: str,
    authorization: Callable[[Rig], str | None],
    status: int,
) -> None:
    value = authorization(owners)
    auth = {} if value is None else {"Authorization": value}
    wrong = []
    for target in _targets(owners):
        before = client.get(f"{target.url}{product_path(sku)}", headers={**target.headers, **auth})
        assert before.status_code == 200, (target.label, before.text)  # reads stay open
        for path, body in _writes(sku):
            answer = client.post(
                f"{target.url}{path}", json=body, headers={**target.headers, **auth}
            )
            expected = UNAUTHENTICATED_BODY if status == 401 else FORBIDDEN
            challenge = answer.headers.get("www-authenticate")
            if (
                answer.status_code != status
                or answer.json() != expected
                or (challenge != WWW_AUTHENTICATE if status == 401 else challenge is not None)
            ):
                wrong.append(f"{target.label} {path}: {answer.status_code} {answer.text[:200]}")
            if path == PRODUCTS:
                made = client.get(
                    f"{target.url}{product_path(body['sku'])}", headers=target.headers
                )
                assert made.status_code == 404, (target.label, made.text)
        after = client.get(f"{target.url}{product_path(sku)}", headers=target.headers)
        assert after.json() == before.json(), target.label
    assert wrong == []


def _orders_service(rig: Rig) -> str:
    return PasswordServiceToken(
        fixed=None,
        username=ORDERS_SERVICE_ACCOUNT,
        password=rig.env["ORDERS_SERVICE_PASSWORD"],
        token_url=f"{rig.monolith_url}/api/auth/token/",
    )()


def _monolith_account(rig: Rig) -> str:
    # The monolith's own account and token code; the account row lands in this test's database,
    # the token is signed with the rig's key (the owners read the caller from the token alone).
    with stack_keys(rig.env):
        return MonolithServiceToken(settings.ORDERS_REMOTE_ACCOUNT)()


WRITERS: list[tuple[str, Callable[[Rig], str]]] = [
    ("staff", lambda rig: rig.token(rig.claims(staff=True))),
    ("the orders service's account", _orders_service),
    ("the monolith's own account", _monolith_account),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "token"), WRITERS, ids=[w[0] for w in WRITERS])
def test_staff_and_service_accounts_write(
    owners: Rig, client: httpx.Client, name: str, token: Callable[[Rig], str]
) -> None:
    auth = owners.bearer(token(owners))
    for target in _targets(owners):
        _write_the_lifecycle(client, target, {**target.headers, **auth}, name)


def _write_the_lifecycle(
    client: httpx.Client, target: Target, headers: dict[str, str], name: str
) -> None:
    """Create, adjust, reserve and commit, reserve and release: each answered 200/201."""

    def post(path: str, body: Any = None) -> Any:
        answer = client.post(f"{target.url}{path}", json=body, headers=headers)
        assert answer.status_code in (200, 201), (name, target.label, path, answer.text)
        return answer.json()

    product = post(PRODUCTS, product_body(on_hand=5))
    assert post(adjustments_path(product["sku"]), adjustment_body(delta=3))["on_hand"] == 8
    committed = post(RESERVATIONS, reservation_body([(product["sku"], 2)]))
    assert post(reservation_path(committed["id"], "commit"))["status"] == "committed"
    released = post(RESERVATIONS, reservation_body([(product["sku"], 1)]))
    assert post(reservation_path(released["id"], "release"))["status"] == "released"
    final = client.get(f"{target.url}{product_path(product['sku'])}", headers=target.headers)
    assert (final.json()["on_hand"], final.json()["reserved"]) == (6, 0), target.label

"""Tokens mean what they say, on every owner that needs a caller (directly and through the proxy):
each vector below is signed with the monolith's real private key, so only the checks of
``contracts.tokens`` stand between it and a caller, and each answer must be the one 401:

* ``kid``: missing, empty, another key's, not a string, or anything that names no published key;
* claim types: ``exp``/``iat`` as strings, floats or booleans, ``staff`` as anything but a JSON
  boolean, ``sub`` not a UUID string, the other claims not strings;
* lifetime: longer than ``MAX_LIFETIME_S`` (up to 100 years), none, negative, or no ``exp``;
* two ``Authorization`` headers, whatever each carries.

A valid token is served everywhere (the control: the probes could pass).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts.tokens import MAX_LIFETIME_S, UNAUTHENTICATED_BODY, WWW_AUTHENTICATE, key_id
from monolith.identity.keys import thumbprint
from tests.security.owners import Rig, Target

#: An endpoint of each owner that needs a caller (the inventory contract's are open reads here).
AUTHENTICATED = {
    "monolith": ("/api/auth/me/", "/api/payments/", "/api/orders/"),
    "payments": ("/api/payments/",),
    "orders": ("/api/orders/",),
}
YEAR_S = 365 * 24 * 3600


@dataclass(frozen=True)
class TokenVector:
    kind: str
    name: str
    #: The Authorization header values to send, built from the rig.
    headers: Callable[[Rig], list[tuple[str, str]]]


def _signed(
    claims: dict[str, Any] | None = None, **header: Any
) -> Callable[[Rig], list[tuple[str, str]]]:
    def build(rig: Rig) -> list[tuple[str, str]]:
        base = rig.claims(staff=True)
        merged = {**base, **(claims or {})}
        merged = {k: v for k, v in merged.items() if v is not ...}
        return [("Authorization", f"Bearer {rig.token(merged, headers=header)}")]

    return build


def _lifetime(seconds: int, *, iat_shift: int = 0) -> dict[str, Any]:
    now = int(time.time()) + iat_shift
    return {"iat": now, "exp": now + seconds}


def _two(
    first: Callable[[Rig], str], second: Callable[[Rig], str]
) -> Callable[[Rig], list[tuple[str, str]]]:
    def build(rig: Rig) -> list[tuple[str, str]]:
        return [("Authorization", first(rig)), ("Authorization", second(rig))]

    return build


def _valid(rig: Rig) -> str:
    return f"Bearer {rig.token(rig.claims(staff=True))}"


def _other_kid() -> str:
    return key_id(bytes(32))


VECTORS = [
    # kid
    TokenVector("kid", "missing", _signed(kid=None)),
    TokenVector("kid", "empty", _signed(kid="")),
    TokenVector("kid", "another key's", _signed(kid=_other_kid())),
    TokenVector("kid", "an integer", _signed(kid=1)),
    TokenVector("kid", "a list", _signed(kid=["x"])),
    TokenVector("kid", "a path", _signed(kid="../../keys/jwt-public.pem")),
    TokenVector("kid", "very long", _signed(kid="k" * 5000)),
    TokenVector("kid", "the right one with a suffix", lambda rig: _signed(kid=rig.kid + "x")(rig)),
    # claim types
    TokenVector(
        "claims", "exp as a string", lambda rig: _signed({"exp": str(int(time.time()) + 300)})(rig)
    ),
    TokenVector("claims", "exp as a float", lambda rig: _signed({"exp": time.time() + 300.5})(rig)),
    TokenVector("claims", "exp as true", _signed({"exp": True})),
    TokenVector(
        "claims", "iat as a string", lambda rig: _signed({"iat": str(int(time.time()))})(rig)
    ),
    TokenVector("claims", "iat as a float", lambda rig: _signed({"iat": time.time() - 0.5})(rig)),
    TokenVector("claims", 'staff "yes"', _signed({"staff": "yes"})),
    TokenVector("claims", 'staff "true"', _signed({"staff": "true"})),
    TokenVector("claims", "staff 1", _signed({"staff": 1})),
    TokenVector("claims", "staff null", _signed({"staff": None})),
    TokenVector("claims", "staff a list", _signed({"staff": [True]})),
    TokenVector("claims", "sub an integer", _signed({"sub": 42})),
    TokenVector("claims", "sub a UUID as an integer", _signed({"sub": uuid.uuid4().int})),
    TokenVector("claims", "sub not a UUID", _signed({"sub": "admin"})),
    TokenVector("claims", "username an integer", _signed({"username": 7})),
    TokenVector("claims", "jti an integer", _signed({"jti": 7})),
    TokenVector("claims", "aud a list", _signed({"aud": ["strangler"]})),
    # lifetime
    TokenVector("lifetime", "100 years", _signed(_lifetime(100 * YEAR_S))),
    TokenVector("lifetime", "one second past the cap", _signed(_lifetime(MAX_LIFETIME_S + 1))),
    TokenVector("lifetime", "30 days", _signed(_lifetime(30 * 24 * 3600))),
    TokenVector(
        "lifetime", "issued long ago, valid now", _signed(_lifetime(2 * YEAR_S, iat_shift=-YEAR_S))
    ),
    TokenVector("lifetime", "zero", _signed(_lifetime(0, iat_shift=60))),
    TokenVector(
        "lifetime",
        "negative",
        _signed({"iat": int(time.time()) + 30, "exp": int(time.time()) + 20}),
    ),
    TokenVector("lifetime", "no exp", _signed({"exp": ...})),
    TokenVector("lifetime", "no iat", _signed({"iat": ...})),
    # two Authorization headers
    TokenVector("two headers", "both valid", _two(_valid, _valid)),
    TokenVector("two headers", "valid then garbage", _two(_valid, lambda rig: "Bearer nope")),
    TokenVector("two headers", "garbage then valid", _two(lambda rig: "Bearer nope", _valid)),
    TokenVector("two headers", "valid then empty", _two(_valid, lambda rig: "")),
    TokenVector("two headers", "valid then basic", _two(_valid, lambda rig: "Basic dTpw")),
    TokenVector(
        "two headers", "customer then staff", _two(lambda rig: f"Bearer {rig.token()}", _valid)
    ),
]


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as http:
        yield http


def _targets(rig: Rig) -> list[Target]:
    return rig.targets(owners=tuple(AUTHENTICATED))


def _get(
    client: httpx.Client, target: Target, path: str, auth: list[tuple[str, str]]
) -> httpx.Response:
    return client.get(f"{target.url}{path}", headers=[*target.headers.items(), *auth])


def test_at_least_thirty_vectors_in_four_classes() -> None:
    assert len(VECTORS) >= 30
    assert {v.kind for v in VECTORS} == {"kid", "claims", "lifetime", "two headers"}


def test_a_valid_token_is_served_everywhere(owners: Rig, client: httpx.Client) -> None:
    for target in _targets(owners):
        for path in AUTHENTICATED[target.owner]:
            answer = _get(client, target, path, [("Authorization", _valid(owners))])
            assert answer.status_code == 200, (target.label, path, answer.text)


def test_every_vector_is_the_one_401_everywhere(owners: Rig, client: httpx.Client) -> None:
    wrong = []
    for target in _targets(owners):
        for path in AUTHENTICATED[target.owner]:
            for vector in VECTORS:
                answer = _get(client, target, path, vector.headers(owners))
                try:
                    body = answer.json()
                except ValueError:
                    body = answer.text[:200]
                if (
                    answer.status_code != 401
                    or body != UNAUTHENTICATED_BODY
                    or answer.headers.get("www-authenticate") != WWW_AUTHENTICATE
                ):
                    where = f"{target.label} {path} {vector.kind}/{vector.name}"
                    wrong.append(f"{where}: {answer.status_code} {body}")
    assert wrong == []


def test_a_token_of_another_key_naming_the_real_kid_is_refused(
    owners: Rig, client: httpx.Client
) -> None:
    stranger = Ed25519PrivateKey.generate()
    assert thumbprint(stranger.public_key()) != owners.kid
    token = owners.token(owners.claims(staff=True), key=stranger)  # the real kid, the wrong key
    for target in _targets(owners):
        answer = _get(
            client, target, AUTHENTICATED[target.owner][0], [("Authorization", f"Bearer {token}")]
        )
        assert answer.status_code == 401, target.label

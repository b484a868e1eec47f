"""Identity: the token endpoint, the public key, and the one 401 for every refused token."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.test import Client

from contracts.tokens import UNAUTHENTICATED_BODY, WWW_AUTHENTICATE
from monolith.identity.keys import signing_keys, thumbprint
from monolith.identity.models import User
from monolith.identity.tokens import token_issue, token_verify
from tests.monolith.api_client import JsonClient
from tests.monolith.factories import bearer, make_user

pytestmark = pytest.mark.django_db

ME = "/api/auth/me/"
TOKEN = "/api/auth/token/"


def _b64(data: dict[str, object]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _claims(user: User, **changes: object) -> dict[str, object]:
    good = token_verify(token_issue(user=user).access_token).model_dump(mode="json")
    return {**good, **changes}


def _tampered(user: User) -> str:
    header, payload, signature = token_issue(user=user).access_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["staff"] = True
    return f"{header}.{_b64(claims)}.{signature}"


def _refused_tokens(user: User) -> dict[str, str]:
    """Each way a token can be wrong, by name."""
    keys = signing_keys()
    stranger = Ed25519PrivateKey.generate()
    return {
        "expired": token_issue(user=user, now=time.time() - 3600, ttl_s=60).access_token,
        "wrong key": jwt.encode(_claims(user), stranger, algorithm="EdDSA"),
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(user))}.",
        "hmac with the public key": jwt.encode(
            _claims(user), keys.public_jwk()["x"], algorithm="HS256"
        ),
        "tampered claims": _tampered(user),
        "wrong audience": jwt.encode(_claims(user, aud="other"), keys.private, algorithm="EdDSA"),
        "wrong issuer": jwt.encode(_claims(user, iss="evil"), keys.private, algorithm="EdDSA"),
        "no subject": jwt.encode(
            {k: v for k, v in _claims(user).items() if k != "sub"},
            keys.private,
            algorithm="EdDSA",
        ),
        "subject not a uuid": jwt.encode(_claims(user, sub="42"), keys.private, algorithm="EdDSA"),
        "garbage": "not.a.token",
        "empty": "",
    }


def test_a_valid_token_names_the_caller(customer: User, customer_api: JsonClient) -> None:
    answer = customer_api.get(ME)
    assert answer.status == 200
    assert answer.body == {"id": str(customer.id), "username": customer.username, "is_staff": False}


def test_staff_tokens_say_so(staff_api: JsonClient) -> None:
    assert staff_api.get(ME).body["is_staff"] is True


def test_no_credentials_is_the_one_401(api: JsonClient) -> None:
    answer = api.get(ME)
    assert answer.status == 401
    assert answer.body == UNAUTHENTICATED_BODY
    assert answer.headers["WWW-Authenticate"] == WWW_AUTHENTICATE


@pytest.mark.parametrize(
    "kind",
    [
        "expired",
        "wrong key",
        "alg none",
        "hmac with the public key",
        "tampered claims",
        "wrong audience",
        "wrong issuer",
        "no subject",
        "subject not a uuid",
        "garbage",
        "empty",
    ],
)
def test_every_refused_token_gets_the_same_401(customer: User, kind: str) -> None:
    token = _refused_tokens(customer)[kind]
    answer = JsonClient(Client(), headers={"Authorization": f"Bearer {token}"}).get(ME)
    assert (answer.status, answer.body) == (401, UNAUTHENTICATED_BODY)
    assert answer.headers["WWW-Authenticate"] == WWW_AUTHENTICATE


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Token abc", "Bearer", "Bearer   "])
def test_other_schemes_get_the_same_401(header: str) -> None:
    answer = JsonClient(Client(), headers={"Authorization": header}).get(ME)
    assert (answer.status, answer.body) == (401, UNAUTHENTICATED_BODY)


def test_the_token_endpoint_trades_a_password_for_a_token(api: JsonClient) -> None:
    user = make_user(password="correct horse")
    answer = api.post(TOKEN, {"username": user.username, "password": "correct horse"})
    assert answer.status == 200
    assert answer.body["token_type"] == "Bearer"
    assert answer.body["expires_in"] == 900
    claims = token_verify(answer.body["access_token"])
    assert (claims.sub, claims.username, claims.staff) == (user.id, user.username, False)
    header = jwt.get_unverified_header(answer.body["access_token"])
    assert (header["alg"], header["kid"]) == ("EdDSA", signing_keys().kid)


@pytest.mark.parametrize(
    ("username", "password"), [("known", "wrong"), ("nobody", "correct horse")]
)
def test_bad_credentials_are_a_401_that_does_not_say_which_part(
    api: JsonClient, username: str, password: str
) -> None:
    make_user(username="known", password="correct horse")
    answer = api.post(TOKEN, {"username": username, "password": password})
    assert answer.status == 401
    assert answer.body == {
        "error": "invalid_credentials",
        "detail": "Username or password is not valid.",
    }


def test_an_inactive_account_gets_no_token(api: JsonClient) -> None:
    user = make_user(password="correct horse")
    User.objects.filter(id=user.id).update(is_active=False)
    answer = api.post(TOKEN, {"username": user.username, "password": "correct horse"})
    assert answer.status == 401


def test_the_token_endpoint_validates_its_body(api: JsonClient) -> None:
    answer = api.post(TOKEN, {"username": "x"})
    assert answer.status == 400
    assert answer.body["fields"] == {"password": ["This field is required."]}


def test_jwks_publishes_the_public_key_that_verifies_tokens(
    api: JsonClient, customer: User
) -> None:
    keys = api.get("/api/auth/jwks/").body["keys"]
    assert len(keys) == 1
    (jwk,) = keys
    assert {"kty": jwk["kty"], "crv": jwk["crv"], "alg": jwk["alg"]} == {
        "kty": "OKP",
        "crv": "Ed25519",
        "alg": "EdDSA",
    }
    assert "d" not in jwk  # never the private part
    public = jwt.PyJWK(jwk).key
    assert thumbprint(public) == jwk["kid"]
    token = token_issue(user=customer).access_token
    decoded = jwt.decode(token, public, algorithms=["EdDSA"], audience="strangler")
    assert decoded["sub"] == str(customer.id)


def test_the_inventory_contract_stays_open(api_as: Callable[[User], JsonClient]) -> None:
    """Tokens are read only where an API needs a caller: a bad one does not break open paths."""
    anonymous = JsonClient(Client(), headers={"Authorization": "Bearer nonsense"})
    assert anonymous.get("/api/inventory/products/").status == 200


def test_bearer_factory_round_trips(customer: User) -> None:
    token = bearer(customer)["Authorization"].removeprefix("Bearer ")
    assert token_verify(token).sub == customer.id

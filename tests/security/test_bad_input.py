"""Parser bombs never become a 500: every JSON write endpoint of every owner (the monolith and
each service, directly and through the proxy) answers each vector of each class with a 400 and
the contract's body naming the limit (``contracts.json_limits``):

* nesting depth (arrays, objects, mixed, unterminated, inside a field);
* body size (2.5 MB; through the proxy its own 1 MB cap answers first, a 413);
* keys per object and items per array, at the top and nested;
* string length, of values and of keys, escaped or not;
* huge numbers: overflowing floats, integers past Python's conversion limit, long literals.

Every vector goes to the first write endpoint of each owner; one vector of each class goes to
every write endpoint (the anonymous token endpoint and inventory writes among them).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from contracts.json_limits import (
    MAX_ARRAY_ITEMS,
    MAX_BODY_BYTES,
    MAX_DEPTH,
    MAX_NUMBER_CHARS,
    MAX_OBJECT_KEYS,
    MAX_STRING_CHARS,
)
from tests.security.owners import Rig, Target
from tests.support.inventory_api import PRODUCTS, RESERVATIONS, adjustments_path, product_body

DEPTH = f"Body nests deeper than {MAX_DEPTH} levels."
KEYS = f"Body has an object with more than {MAX_OBJECT_KEYS} keys."
ITEMS = f"Body has an array with more than {MAX_ARRAY_ITEMS} items."
STRING = f"Body has a string longer than {MAX_STRING_CHARS} characters."
NUMBER_CHARS = f"Body has a number longer than {MAX_NUMBER_CHARS} characters."
NUMBER_RANGE = "Body has a number too large to represent."
#: Over the size limit: Django's (and the services') 400; the proxy's own cap answers first.
TOO_BIG = ("bad_request", "Bad request.")


@dataclass(frozen=True)
class Vector:
    kind: str
    name: str
    body: bytes
    #: (error, detail) of the answer.
    expected: tuple[str, str]


def _nested(depth: int, open_: str = "[", close: str = "]", inner: str = "1") -> bytes:
    return (open_ * depth + inner + close * depth).encode()


def _objects(depth: int) -> bytes:
    return ('{"a":' * depth + "1" + "}" * depth).encode()


def _in_field(value: str) -> bytes:
    return ('{"sku": "SKU-x", "name": ' + value + ', "price": "1.00"}').encode()


def _many_keys(count: int) -> str:
    return "{" + ",".join(f'"k{i}": {i}' for i in range(count)) + "}"


def _padded_to(size: int) -> bytes:
    fields = {f"f{i}": "x" * 60_000 for i in range(size // 60_000 + 1)}
    return json.dumps(fields).encode()


def _mixed(depth: int) -> bytes:
    return ('[{"a":' * depth + "1" + "}]" * depth).encode()


VECTORS = [
    # nesting depth
    Vector(
        "depth", "arrays one past the limit", _nested(MAX_DEPTH + 1), ("malformed_request", DEPTH)
    ),
    Vector("depth", "arrays 100 deep", _nested(100), ("malformed_request", DEPTH)),
    Vector("depth", "arrays 1000 deep", _nested(1000), ("malformed_request", DEPTH)),
    Vector("depth", "arrays 10000 deep (20 KB)", _nested(10_000), ("malformed_request", DEPTH)),
    Vector("depth", "arrays 100000 deep", _nested(100_000), ("malformed_request", DEPTH)),
    Vector(
        "depth", "objects one past the limit", _objects(MAX_DEPTH + 1), ("malformed_request", DEPTH)
    ),
    Vector("depth", "objects 5000 deep", _objects(5_000), ("malformed_request", DEPTH)),
    Vector("depth", "mixed 5000 deep", _mixed(5_000), ("malformed_request", DEPTH)),
    Vector("depth", "unterminated 20 KB of [", b"[" * 20_000, ("malformed_request", DEPTH)),
    Vector(
        "depth",
        "deep inside a field",
        _in_field("[" * 3000 + "]" * 3000),
        ("malformed_request", DEPTH),
    ),
    # body size
    Vector("size", "over the limit in fields", _padded_to(MAX_BODY_BYTES + 1), TOO_BIG),
    Vector("size", "over the limit in whitespace", b"{" + b" " * MAX_BODY_BYTES + b"}", TOO_BIG),
    # keys and items
    Vector(
        "keys",
        "one key past the limit",
        _many_keys(MAX_OBJECT_KEYS + 1).encode(),
        ("malformed_request", KEYS),
    ),
    Vector("keys", "20000 keys", _many_keys(20_000).encode(), ("malformed_request", KEYS)),
    Vector(
        "keys",
        "too many keys in a field",
        _in_field(_many_keys(MAX_OBJECT_KEYS + 1)),
        ("malformed_request", KEYS),
    ),
    Vector(
        "keys",
        "too many keys in a line",
        ('{"lines": [' + _many_keys(5000) + "]}").encode(),
        ("malformed_request", KEYS),
    ),
    Vector(
        "items",
        "one item past the limit",
        json.dumps([0] * (MAX_ARRAY_ITEMS + 1)).encode(),
        ("malformed_request", ITEMS),
    ),
    Vector(
        "items",
        "200000 items",
        ("[" + "0," * 199_999 + "0]").encode(),
        ("malformed_request", ITEMS),
    ),
    Vector(
        "items",
        "too many lines",
        json.dumps({"lines": [{}] * (MAX_ARRAY_ITEMS + 1)}).encode(),
        ("malformed_request", ITEMS),
    ),
    Vector(
        "items",
        "too many items nested",
        json.dumps({"a": [[0] * 50_000]}).encode(),
        ("malformed_request", ITEMS),
    ),
    # string length
    Vector(
        "string",
        "a value one past the limit",
        _in_field(json.dumps("n" * (MAX_STRING_CHARS + 1))),
        ("malformed_request", STRING),
    ),
    Vector(
        "string",
        "a 1 MB value",
        _in_field(json.dumps("n" * 1_000_000)),
        ("malformed_request", STRING),
    ),
    Vector(
        "string",
        "a key past the limit",
        json.dumps({"k" * (MAX_STRING_CHARS + 1): 1}).encode(),
        ("malformed_request", STRING),
    ),
    Vector(
        "string",
        "escaped characters",
        _in_field('"' + "\\u0041" * (MAX_STRING_CHARS + 1) + '"'),
        ("malformed_request", STRING),
    ),
    Vector(
        "string",
        "in a list",
        json.dumps({"lines": ["x" * 100_000]}).encode(),
        ("malformed_request", STRING),
    ),
    # numbers
    Vector("number", "1e999999", b'{"on_hand": 1e999999}', ("malformed_request", NUMBER_RANGE)),
    Vector("number", "-1e999999", b'{"delta": -1e999999}', ("malformed_request", NUMBER_RANGE)),
    Vector("number", "1E400", b'{"price": 1E400}', ("malformed_request", NUMBER_RANGE)),
    Vector(
        "number",
        "just past the largest double",
        b'{"amount": 1.8e308}',
        ("malformed_request", NUMBER_RANGE),
    ),
    Vector(
        "number",
        "a 5000-digit integer",
        ('{"on_hand": ' + "9" * 5000 + "}").encode(),
        ("malformed_request", NUMBER_CHARS),
    ),
    Vector(
        "number",
        "a 4301-digit integer",
        ('{"quantity": ' + "1" * 4301 + "}").encode(),
        ("malformed_request", NUMBER_CHARS),
    ),
    Vector(
        "number",
        "a long negative integer",
        ('{"delta": -' + "7" * MAX_NUMBER_CHARS + "}").encode(),
        ("malformed_request", NUMBER_CHARS),
    ),
    Vector(
        "number",
        "a long fraction",
        ('{"amount": 0.' + "0" * 500 + "1}").encode(),
        ("malformed_request", NUMBER_CHARS),
    ),
    Vector(
        "number",
        "huge number in a list",
        b'{"lines": [{"quantity": 1e999}]}',
        ("malformed_request", NUMBER_RANGE),
    ),
]

#: One vector of each class, sent to every write endpoint.
ONE_PER_CLASS = [
    next(v for v in VECTORS if v.kind == kind) for kind in dict.fromkeys(v.kind for v in VECTORS)
]


@dataclass(frozen=True)
class Endpoint:
    path: str
    #: Headers that make the owner read the body before anything else it checks.
    headers: dict[str, str]


@pytest.fixture(scope="module")
def sku(owners: Rig) -> str:
    """A product on each inventory owner, so an adjustment reaches its body."""
    body = product_body()
    for owner in ("monolith", "inventory"):
        made = httpx.post(f"{owners.owner_url(owner)}{PRODUCTS}", json=body, headers=owners.staff())
        assert made.status_code == 201, made.text
    return str(body["sku"])


@pytest.fixture(scope="module")
def endpoints(sku: str) -> list[Endpoint]:
    """Every JSON write endpoint of the contract (contracts/openapi.yaml), ready to parse."""
    key = {"Idempotency-Key": f"bad-input-{uuid.uuid4()}"}
    return [
        Endpoint(PRODUCTS, {}),
        Endpoint(adjustments_path(sku), {}),
        Endpoint(RESERVATIONS, {}),
        Endpoint("/api/payments/", key),
        Endpoint(f"/api/payments/{uuid.uuid4()}/refunds/", key),
        Endpoint("/api/orders/", {}),
        Endpoint("/api/auth/token/", {}),
    ]


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60) as http:
        yield http


def _send(
    client: httpx.Client, owners: Rig, target: Target, endpoint: Endpoint, body: bytes
) -> httpx.Response:
    headers = {
        **target.headers,
        **endpoint.headers,
        **owners.staff(),
        "Content-Type": "application/json",
        # A refused body may be left unread; a fresh connection each time.
        "Connection": "close",
    }
    return client.post(f"{target.url}{endpoint.path}", content=body, headers=headers)


def _expected(target: Target, vector: Vector) -> tuple[int, str, str]:
    if vector.kind == "size" and target.via_proxy:
        return 413, "payload_too_large", "Request body exceeds 1048576 bytes."
    return 400, *vector.expected


def _wrong(
    client: httpx.Client, owners: Rig, target: Target, endpoint: Endpoint, vector: Vector
) -> str | None:
    answer = _send(client, owners, target, endpoint, vector.body)
    status, error, detail = _expected(target, vector)
    try:
        body = answer.json()
    except ValueError:
        body = answer.text[:200]
    if answer.status_code == status and body == {"error": error, "detail": detail}:
        return None
    return (
        f"{target.label} {endpoint.path} {vector.kind}/{vector.name}: {answer.status_code} {body}"
    )


def test_there_are_at_least_thirty_vectors_in_six_classes() -> None:
    assert len(VECTORS) >= 30
    assert {v.kind for v in VECTORS} == {"depth", "size", "keys", "items", "string", "number"}


@pytest.mark.slow  # 34 vectors x 8 targets, some of them megabytes
def test_every_vector_is_refused_by_every_owner_directly_and_through_the_proxy(
    owners: Rig, endpoints: list[Endpoint], client: httpx.Client
) -> None:
    wrong = []
    for target in owners.targets():
        first = next(e for e in endpoints if target.owns(e.path))
        for vector in VECTORS:
            wrong.append(_wrong(client, owners, target, first, vector))
    assert [line for line in wrong if line] == []


def test_every_write_endpoint_refuses_one_vector_of_each_class(
    owners: Rig, endpoints: list[Endpoint], client: httpx.Client
) -> None:
    wrong = []
    for target in owners.targets():
        for endpoint in (e for e in endpoints if target.owns(e.path)):
            for vector in ONE_PER_CLASS:
                wrong.append(_wrong(client, owners, target, endpoint, vector))
    assert [line for line in wrong if line] == []


def test_a_body_within_every_limit_is_still_served(owners: Rig, client: httpx.Client) -> None:
    """The limits refuse bombs, not the contract's largest bodies: a reservation of 100 lines at
    the edge of the limits reaches validation (a 404 for its unknown skus, not a 400)."""
    lines = [{"sku": f"SKU-NONE-{i}", "quantity": 1} for i in range(100)]
    body = {"order_id": str(uuid.uuid4()), "lines": lines, "note": "x" * MAX_STRING_CHARS}
    for target in owners.targets(owners=("monolith", "inventory")):
        answer = _send(
            client, owners, target, Endpoint(RESERVATIONS, {}), json.dumps(body).encode()
        )
        assert (answer.status_code, answer.json()["error"]) == (404, "not_found"), target.label


@pytest.mark.parametrize("charset", ["bz2_codec", "zlib_codec", "base64_codec", "no-such-charset"])
def test_a_charset_that_is_not_a_text_encoding_is_refused_everywhere(
    owners: Rig, client: httpx.Client, charset: str
) -> None:
    """A bytes-to-bytes codec would inflate a small body past every limit; it is malformed."""
    wrong = []
    for target in owners.targets(owners=("monolith", "inventory")):
        answer = client.post(
            f"{target.url}{PRODUCTS}",
            content=json.dumps(product_body()).encode(),
            headers={
                **target.headers,
                **owners.staff(),
                "Content-Type": f"application/json; charset={charset}",
            },
        )
        if charset == "no-such-charset":  # unknown: UTF-8, as Django decides
            ok = answer.status_code == 201
        else:
            ok = (answer.status_code, answer.json()) == (
                400,
                {"error": "malformed_request", "detail": "Body is not valid JSON."},
            )
        if not ok:
            wrong.append(f"{target.label}: {answer.status_code} {answer.text[:200]}")
    assert wrong == []

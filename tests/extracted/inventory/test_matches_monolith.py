"""Parity: the monolith and the extracted service, both as real processes on fresh PostgreSQL
databases, get the same requests (validation vectors included) and must answer with the same
status, the same content type and the same JSON.

Only what each side chooses itself is left out of the comparison: ``created_at``/``updated_at``
(each side stamps its own writes) and a new reservation's ``id`` (chosen by the writer).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from contracts.events import EventEnvelope
from contracts.tokens import UNAUTHENTICATED_BODY
from extracted.chassis.web.db import make_engine, make_sessions
from extracted.inventory.sync import apply_event
from tests.support.callers import (
    bearer,
    caller_headers,
    expired_staff_token,
    forged_staff_token,
    stack_keys,
    stack_staff_headers,
)
from tests.support.components import free_ports, prepare, running
from tests.support.database_templates import fresh_owner_databases
from tests.support.random_refs import random_suffix

HOST = "parity.test:8000"  # the same Host header to both, so absolute links are comparable
RUN = random_suffix()
WRITER_CHOSEN = {"created_at", "updated_at"}


@dataclass
class Pair:
    monolith: httpx.Client
    service: httpx.Client
    monolith_db: str
    inventory_db: str
    #: The environment both sides run in (their key pair is under its var folder).
    env: dict[str, str]

    def send(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content: bytes | None = None,
        headers: dict[str, str | None] | None = None,
    ) -> tuple[httpx.Response, httpx.Response]:
        sent_headers: dict[str, str | None] = {"Host": HOST, **(headers or {})}
        if body is not None:
            content = json.dumps(body).encode()
            sent_headers.setdefault("Content-Type", "application/json")
        given = {k: v for k, v in sent_headers.items() if v is not None}
        answers = []
        for client in (self.monolith, self.service):
            request = client.build_request(method, path, content=content, headers=given)
            for name in (k for k, v in sent_headers.items() if v is None):
                del request.headers[name]
            answers.append(client.send(request))
        return answers[0], answers[1]

    def same(self, method: str, path: str, **kwargs: Any) -> tuple[Any, Any]:
        """Send to both; assert equal status, type and JSON (minus writer-chosen fields). A header
        given as ``None`` is not sent (the clients' own staff ``Authorization`` included)."""
        mono, svc = self.send(method, path, **kwargs)
        where = f"{method} {path} {kwargs}"
        assert (svc.status_code, _body(svc)) == (mono.status_code, _body(mono)), where
        assert svc.headers.get("content-type") == mono.headers.get("content-type"), where
        for header in ("x-strangler-dry-run", "allow", "www-authenticate"):
            assert svc.headers.get(header) == mono.headers.get(header), (header, where)
        return _json(mono), _json(svc)


def _json(resp: httpx.Response) -> Any:
    return resp.json() if resp.content else None


def _strip(node: Any, keys: set[str]) -> Any:
    if isinstance(node, dict):
        return {k: _strip(v, keys) for k, v in node.items() if k not in keys}
    if isinstance(node, list):
        return [_strip(v, keys) for v in node]
    return node


def _body(resp: httpx.Response) -> Any:
    if not resp.content:
        return None
    body = resp.json()
    if isinstance(body, dict) and body.get("status") in ("pending", "committed", "released"):
        body = {k: v for k, v in body.items() if k != "id"}  # a reservation: its id is the writer's
    return _strip(body, WRITER_CHOSEN)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    logs = tmp_path_factory.mktemp("parity-logs")
    with ExitStack() as stack:
        databases = stack.enter_context(fresh_owner_databases("parity", migrated=True))
        env = {
            **os.environ,
            **databases,
            "STRANGLER_VAR_DIR": str(logs / "var"),
            "DJANGO_LOG_LEVEL": "WARNING",
        }
        prepare(env, migrated=True)
        ports = free_ports()
        stack.enter_context(running(["monolith", "inventory"], ports=ports, env=env, log_dir=logs))
        # A stock writer on every request: the writes need one (the refusals of anyone else
        # are compared below, with their own headers).
        staff = stack_staff_headers(env)
        clients = [
            stack.enter_context(
                httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=staff, timeout=10)
            )
            for port in (ports.monolith, ports.inventory)
        ]
        yield Pair(
            clients[0],
            clients[1],
            monolith_db=databases["DATABASE_URL"],
            inventory_db=databases["INVENTORY_DATABASE_URL"],
            env=env,
        )


def sku(name: str) -> str:
    return f"P-{RUN}-{name}"


# -- products: create ----------------------------------------------------------------------------

#: (case, body overrides) for POST /api/inventory/products/; every case gets its own sku unless
#: it sets one.
CREATE_VECTORS: list[tuple[str, dict[str, Any]]] = [
    ("minimal", {"on_hand": None}),
    ("trimmed-name", {"name": "  Blue mug  "}),
    ("on_hand-float-integral", {"on_hand": 2.0}),
    ("on_hand-string", {"on_hand": "3"}),
    ("on_hand-string-spaces", {"on_hand": " 3 "}),
    ("on_hand-string-decimal", {"on_hand": "3.0"}),
    ("on_hand-fraction", {"on_hand": 2.5}),
    ("on_hand-word", {"on_hand": "x"}),
    ("on_hand-bool", {"on_hand": True}),
    ("on_hand-list", {"on_hand": []}),
    ("on_hand-null", {"on_hand": "null"}),
    ("on_hand-negative", {"on_hand": -1}),
    ("on_hand-too-big", {"on_hand": 2_147_483_648}),
    ("on_hand-max", {"on_hand": 2_147_483_647}),
    ("on_hand-long-string", {"on_hand": "1" * 1001}),
    ("on_hand-exponent", {"on_hand": "1e3"}),
    ("on_hand-arabic-digit", {"on_hand": "\u0663"}),
    ("on_hand-underscore", {"on_hand": "1_0"}),
    ("price-one-place", {"price": "12.5"}),
    ("price-number", {"price": 12.5}),
    ("price-zero", {"price": 0}),
    ("price-negative", {"price": "-0.01"}),
    ("price-nan", {"price": "NaN"}),
    ("price-snan", {"price": "sNaN"}),
    ("price-infinity", {"price": "Infinity"}),
    ("price-minus-inf", {"price": "-inf"}),
    ("price-exponent", {"price": "1e2"}),
    ("price-three-places", {"price": "12.345"}),
    ("price-nine-whole", {"price": "123456789.1"}),
    ("price-max", {"price": "99999999.99"}),
    ("price-eleven-digits", {"price": "100000000.001"}),
    ("price-bool", {"price": True}),
    ("price-list", {"price": []}),
    ("price-empty", {"price": ""}),
    ("price-blank", {"price": "  "}),
    ("price-null", {"price": "null"}),
    ("price-underscore", {"price": "1_000"}),
    ("price-tiny-float", {"price": 1e-7}),
    ("price-zeros", {"price": "0.000"}),
    ("price-big-float", {"price": 1e16}),
    ("price-long", {"price": "1" * 1001}),
    ("price-negative-zero", {"price": "-0"}),
    ("name-empty", {"name": ""}),
    ("name-blank", {"name": "   "}),
    ("name-int", {"name": 123}),
    ("name-float", {"name": 12.5}),
    ("name-bool", {"name": True}),
    ("name-list", {"name": []}),
    ("name-object", {"name": {}}),
    ("name-null", {"name": "null"}),
    ("name-too-long", {"name": "x" * 201}),
    ("name-max", {"name": "x" * 200}),
    ("name-nul-char", {"name": "a\u0000b"}),
    ("name-unicode", {"name": "Tasse \u00e9t\u00e9 \u2028 \u2603"}),
    ("name-missing", {"name": "missing"}),
    ("sku-space", {"sku": "bad sku"}),
    ("sku-empty", {"sku": ""}),
    ("sku-int", {"sku": 12345}),
    ("sku-bool", {"sku": False}),
    ("sku-accent", {"sku": "caf\u00e9"}),
    ("sku-too-long", {"sku": "x" * 65}),
    ("sku-too-long-bad", {"sku": "x y" * 30}),
    ("sku-slash", {"sku": "a/b"}),
    ("sku-null", {"sku": "null"}),
    ("sku-trailing-newline", {"sku": "ok-sku\n"}),
    ("everything-wrong", {"sku": "", "name": None, "price": "abc", "on_hand": -5}),
]


def _create_body(case: str, overrides: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"sku": sku(case), "name": "Blue mug", "price": "12.50", "on_hand": 4}
    for key, value in overrides.items():
        if value == "null":
            body[key] = None
        elif value == "missing" or value is None:
            body.pop(key)
        else:
            body[key] = value
    if case == "sku-trailing-newline":
        body["sku"] = f"{sku(case)}\n"
    return body


@pytest.mark.parametrize(("case", "overrides"), CREATE_VECTORS, ids=[c for c, _ in CREATE_VECTORS])
def test_product_create_vectors(pair: Pair, case: str, overrides: dict[str, Any]) -> None:
    pair.same("POST", "/api/inventory/products/", body=_create_body(case, overrides))


def test_product_create_conflict_and_detail(pair: Pair) -> None:
    body = _create_body("dup", {})
    pair.same("POST", "/api/inventory/products/", body=body)
    pair.same("POST", "/api/inventory/products/", body=body)
    pair.same("GET", f"/api/inventory/products/{body['sku']}/")
    pair.same("HEAD", f"/api/inventory/products/{body['sku']}/")
    pair.same("GET", "/api/inventory/products/no-such-sku/")
    pair.same("GET", "/api/inventory/products/not%20a%20sku%21/")


LATIN_1_BODY = '{"sku": "x", "name": "caf\u00e9"}'.encode("latin-1")

#: (case, raw body, content type) — parsing before validation.
BODY_VECTORS: list[tuple[str, bytes | None, str | None]] = [
    ("list", b"[1, 2]", "application/json"),
    ("string", b'"text"', "application/json"),
    ("number", b"1.5", "application/json"),
    ("bool", b"true", "application/json"),
    ("null", b"null", "application/json"),
    ("malformed", b"{", "application/json"),
    ("nan-literal", b'{"sku": NaN}', "application/json"),
    ("bom", b'\xef\xbb\xbf{"sku": "x"}', "application/json"),
    ("bad-utf8", b'{"name": "\xff"}', "application/json"),
    ("text-plain", b"hello", "text/plain"),
    ("text-plain-params", b"hello", "text/plain; charset=utf-8"),
    ("form", b"a=1", "application/x-www-form-urlencoded"),
    ("no-content-type", b'{"sku": "x"}', None),
    ("empty-body-text-plain", b"", "text/plain"),
    ("empty-body-json", b"", "application/json"),
    ("upper-case-type", b"{}", "APPLICATION/JSON"),
    ("wildcard-type", b"{}", "*/*"),
    ("application-wildcard", b"{}", "application/*"),
    ("json-patch", b"{}", "application/json-patch+json"),
    (
        "latin-1",
        '{"sku": "x", "name": "caf\u00e9"}'.encode("latin-1"),
        "application/json; charset=latin-1",
    ),
    ("unknown-charset", b"{}", "application/json; charset=nope"),
    ("huge-number", b'{"on_hand": 1' + b"0" * 5000 + b"}", "application/json"),
    (
        "overflowing-float",
        b'{"sku": "x", "name": "n", "price": 1e400, "on_hand": 1e400}',
        "application/json",
    ),
]


@pytest.mark.parametrize(
    ("case", "raw", "content_type"), BODY_VECTORS, ids=[c for c, _, _ in BODY_VECTORS]
)
def test_body_parsing_vectors(
    pair: Pair, case: str, raw: bytes | None, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    pair.same("POST", "/api/inventory/products/", content=raw, headers=headers)


def test_a_server_error_answers_alike_and_keeps_the_connection(pair: Pair) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000  # the JSON parser's recursion limit: a crash
    for headers in ({}, {"X-Strangler-Dry-Run": "1"}):
        sent = {"Content-Type": "application/json", **headers}
        pair.same("POST", "/api/inventory/products/", content=deep, headers=sent)
        pair.same("GET", "/health/live")


# -- products: adjustments -----------------------------------------------------------------------

ADJUST_VECTORS: list[tuple[str, Any]] = [
    ("zero", {"delta": 0, "reason": "count"}),
    ("zero-and-missing-reason", {"delta": 0}),
    ("string-delta", {"delta": "5", "reason": "count"}),
    ("fraction", {"delta": 5.5, "reason": "count"}),
    ("empty-reason", {"delta": 1, "reason": ""}),
    ("long-reason", {"delta": 1, "reason": "r" * 201}),
    ("too-big", {"delta": 2_147_483_647, "reason": "count"}),
    ("insufficient", {"delta": -1000, "reason": "count"}),
    ("negative-ok", {"delta": -1, "reason": "count"}),
    ("positive-ok", {"delta": 7, "reason": " restock "}),
    ("not-an-object", [1]),
]


@pytest.fixture(scope="module")
def adjustable(pair: Pair) -> str:
    body = _create_body("adjustable", {"on_hand": 10})
    pair.same("POST", "/api/inventory/products/", body=body)
    return str(body["sku"])


@pytest.mark.parametrize(("case", "body"), ADJUST_VECTORS, ids=[c for c, _ in ADJUST_VECTORS])
def test_adjustment_vectors(pair: Pair, adjustable: str, case: str, body: Any) -> None:
    pair.same("POST", f"/api/inventory/products/{adjustable}/adjustments/", body=body)


def test_adjustment_unknown_product_is_404_before_the_body(pair: Pair) -> None:
    path = "/api/inventory/products/nope-unknown/adjustments/"
    pair.same("POST", path, body={"delta": 0})
    pair.same("POST", path, content=b"hello", headers={"Content-Type": "text/plain"})
    pair.same("POST", path, content=b"{", headers={"Content-Type": "application/json"})


# -- reservations --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stocked(pair: Pair) -> list[str]:
    skus = [sku(f"stock-{i}") for i in range(3)]
    for i, s in enumerate(skus):
        pair.same(
            "POST", "/api/inventory/products/", body=_create_body(s, {"sku": s, "on_hand": 5 + i})
        )
    return skus


def _reservation_vectors(skus: list[str]) -> list[tuple[str, Any]]:
    a, _b, c = skus
    order = str(uuid.uuid4())
    return [
        ("order-id-word", {"order_id": "x", "lines": [{"sku": a, "quantity": 1}]}),
        ("order-id-int", {"order_id": 123, "lines": [{"sku": a, "quantity": 1}]}),
        ("order-id-float", {"order_id": 1.5, "lines": [{"sku": a, "quantity": 1}]}),
        ("order-id-null", {"order_id": None, "lines": [{"sku": a, "quantity": 1}]}),
        ("lines-object", {"order_id": order, "lines": {"sku": a}}),
        ("lines-string", {"order_id": order, "lines": "abc"}),
        ("lines-empty", {"order_id": order, "lines": []}),
        ("lines-null", {"order_id": order, "lines": None}),
        ("lines-missing", {"order_id": order}),
        ("lines-101", {"order_id": order, "lines": [{"sku": a, "quantity": 0}] * 101}),
        ("lines-100-bad", {"order_id": order, "lines": [{"sku": "", "quantity": 0}] * 100}),
        ("line-int", {"order_id": order, "lines": [1]}),
        ("line-string", {"order_id": order, "lines": ["x"]}),
        ("line-null", {"order_id": order, "lines": [None]}),
        ("line-list", {"order_id": order, "lines": [[]]}),
        ("line-fields", {"order_id": order, "lines": [{"sku": "", "quantity": 0}, {}]}),
        ("line-quantity-words", {"order_id": order, "lines": [{"sku": a, "quantity": "two"}]}),
        ("everything", {"order_id": "nope", "lines": [{"sku": "bad sku", "quantity": -1}] * 12}),
        (
            "unknown-skus",
            {
                "order_id": order,
                "lines": [{"sku": "zz-9", "quantity": 1}, {"sku": "zz-1", "quantity": 1}],
            },
        ),
        (
            "short",
            {"order_id": order, "lines": [{"sku": c, "quantity": 99}, {"sku": a, "quantity": 50}]},
        ),
        (
            "merged-short",
            {"order_id": order, "lines": [{"sku": a, "quantity": 3}, {"sku": a, "quantity": 3}]},
        ),
    ]


def test_reservation_validation_and_refusal_vectors(pair: Pair, stocked: list[str]) -> None:
    for case, body in _reservation_vectors(stocked):
        mono, _svc = pair.same("POST", "/api/inventory/reservations/", body=body)
        assert mono is not None, case


@pytest.mark.parametrize(
    "order_form",
    ["hyphenated", "hex", "urn", "braces", "upper", "int", "bool"],
)
def test_reservation_uuid_forms(pair: Pair, stocked: list[str], order_form: str) -> None:
    order = uuid.uuid4()
    value: Any = {
        "hyphenated": str(order),
        "hex": order.hex,
        "urn": order.urn,
        "braces": f"{{{order}}}",
        "upper": str(order).upper(),
        "int": order.int,
        "bool": None,
    }[order_form]
    if order_form == "bool":
        # True is uuid 00000000-...-000000000001 in DRF: once per database is all it can be.
        value = True
    body = {"order_id": value, "lines": [{"sku": stocked[0], "quantity": 1}]}
    pair.same("POST", "/api/inventory/reservations/", body=body)


def test_reservation_with_a_writer_chosen_id(pair: Pair, stocked: list[str]) -> None:
    """The orders saga chooses the id, so after a crash it can repeat the create and find it."""
    chosen = str(uuid.uuid4())
    body = {
        "id": chosen,
        "order_id": str(uuid.uuid4()),
        "lines": [{"sku": stocked[1], "quantity": 1}],
    }
    mono, svc = pair.same("POST", "/api/inventory/reservations/", body=body)
    assert mono["id"] == svc["id"] == chosen
    pair.same("POST", "/api/inventory/reservations/", body=body)  # the order already has one
    taken = {**body, "order_id": str(uuid.uuid4())}
    mono, _svc = pair.same("POST", "/api/inventory/reservations/", body=taken)
    assert mono == {"error": "conflict", "detail": f"Reservation '{chosen}' already exists."}
    mono, _svc = pair.same("POST", "/api/inventory/reservations/", body={**body, "id": "x"})
    assert mono["fields"] == {"id": ["Must be a valid UUID."]}
    pair.same("POST", f"/api/inventory/reservations/{chosen}/release/")


def test_reservation_lifecycle(pair: Pair) -> None:
    a, b = sku("life-a"), sku("life-b")
    for s in (a, b):
        pair.same("POST", "/api/inventory/products/", body=_create_body(s, {"sku": s}))
    order = str(uuid.uuid4())
    body = {
        "order_id": order,
        "lines": [{"sku": b, "quantity": 1}, {"sku": a, "quantity": 1}, {"sku": b, "quantity": 1}],
    }
    mono, svc = pair.same("POST", "/api/inventory/reservations/", body=body)
    pair.same("POST", "/api/inventory/reservations/", body=body)  # the order already has one
    pair.same("GET", f"/api/inventory/products/{b}/")
    assert "id" in mono, mono
    ids = (mono["id"], svc["id"])

    def both(method: str, suffix: str, **kwargs: Any) -> None:
        headers = {"Host": HOST, **kwargs.pop("headers", {})}
        answers = [
            client.request(
                method, f"/api/inventory/reservations/{rid}/{suffix}", headers=headers, **kwargs
            )
            for client, rid in zip((pair.monolith, pair.service), ids, strict=True)
        ]
        mono_body, svc_body = (_body(r) for r in answers)
        if isinstance(mono_body, dict) and "detail" in mono_body:  # the detail names the id
            mono_body["detail"] = mono_body["detail"].replace(ids[0], "<id>")
            svc_body["detail"] = svc_body["detail"].replace(ids[1], "<id>")
        assert (answers[1].status_code, svc_body) == (answers[0].status_code, mono_body), suffix

    both("GET", "")
    both("HEAD", "")
    both(
        "POST", "commit/", content=b"ignored", headers={"Host": HOST, "Content-Type": "text/plain"}
    )
    both("POST", "commit/")
    both("POST", "release/")
    both("GET", "commit/")
    pair.same("GET", f"/api/inventory/products/{a}/")
    pair.same("GET", f"/api/inventory/products/{b}/")

    second = {"order_id": str(uuid.uuid4()), "lines": [{"sku": a, "quantity": 2}]}
    mono, svc = pair.same("POST", "/api/inventory/reservations/", body=second)
    assert "id" in mono, mono
    ids = (mono["id"], svc["id"])
    both("POST", "release/")
    both("POST", "commit/")
    pair.same("GET", f"/api/inventory/products/{a}/")
    missing = uuid.uuid4()
    pair.same("GET", f"/api/inventory/reservations/{missing}/")
    pair.same("POST", f"/api/inventory/reservations/{missing}/commit/")
    pair.same("POST", f"/api/inventory/reservations/{missing}/release/")


# -- who may write -------------------------------------------------------------------------------


def test_callers_who_may_not_write_are_refused_alike(pair: Pair, stocked: list[str]) -> None:
    """Every write without a staff caller (no token, another scheme, a customer's, an expired or
    a forged one) is the same 401 (``WWW-Authenticate`` included) or 403 on both sides, before
    the body is read or the row looked up; nothing is written. Reads stay open to them."""
    with stack_keys(pair.env):
        refused: dict[str, tuple[dict[str, str | None], int]] = {
            "no token": ({"Authorization": None}, 401),
            "another scheme": ({"Authorization": "Basic b3BzOm9wcw=="}, 401),
            "expired": (dict(bearer(expired_staff_token())), 401),
            "forged": (dict(bearer(forged_staff_token())), 401),
            "customer": (dict(caller_headers(staff=False)), 403),
        }
    missing = uuid.uuid4()
    writes: list[tuple[str, Any]] = [
        ("/api/inventory/products/", _create_body("refused", {})),
        ("/api/inventory/products/", {"sku": ""}),
        (f"/api/inventory/products/{stocked[0]}/adjustments/", {"delta": 5, "reason": "no"}),
        ("/api/inventory/products/nope-unknown/adjustments/", {"delta": 0}),
        (
            "/api/inventory/reservations/",
            {"order_id": str(uuid.uuid4()), "lines": [{"sku": stocked[0], "quantity": 1}]},
        ),
        (f"/api/inventory/reservations/{missing}/commit/", None),
        (f"/api/inventory/reservations/{missing}/release/", None),
    ]
    before, _ = pair.same("GET", f"/api/inventory/products/{stocked[0]}/")
    for name, (headers, status) in refused.items():
        for path, body in writes:
            mono, _svc = pair.same("POST", path, body=body, headers=headers)
            if status == 401:
                assert mono == UNAUTHENTICATED_BODY, (name, path)
            else:
                assert mono == {
                    "error": "permission_denied",
                    "detail": "Only staff may change stock.",
                }, (name, path)
        pair.same("GET", f"/api/inventory/products/{stocked[0]}/", headers=headers)
    after, _ = pair.same("GET", f"/api/inventory/products/{stocked[0]}/")
    assert after == before
    never, _ = pair.same("GET", f"/api/inventory/products/{sku('refused')}/")
    assert never["error"] == "not_found"


# -- URLs, methods, pagination, dry runs ---------------------------------------------------------

URL_VECTORS: list[tuple[str, str]] = [
    ("GET", "/api/inventory/products"),
    ("GET", "/api/inventory/"),
    ("GET", "/nope/"),
    ("GET", "/api/inventory/products/x/nope/"),
    ("GET", "/api/inventory/products//"),
    ("GET", "/api/inventory/reservations/"),
    ("GET", "/api/inventory/reservations/NOT-A-UUID/"),
    ("GET", "/api/inventory/reservations/587DE373-454A-4A73-BA7A-7C76DDB13A39/"),
    ("GET", "/api/inventory/reservations/5cd26f8896fb48398229e8b37ac5e64b/"),
    ("GET", "/api/inventory/reservations/not-a-uuid/commit/"),
    ("DELETE", "/api/inventory/products/"),
    ("PUT", "/api/inventory/products/"),
    ("PATCH", "/api/inventory/products/x/"),
    ("OPTIONS", "/api/inventory/products/"),
    ("GET", "/api/inventory/products/x/adjustments/"),
    ("POST", "/api/inventory/products/x/"),
    ("POST", "/health/live"),
    ("GET", "/health/live"),
    ("GET", "/health/ready"),
    ("GET", "/health/live/"),
    ("POST", "/api/inventory/products/x/adjustments"),
    ("GET", "/api/inventory/products/%FF/"),
    ("GET", "/api/inventory/products/caf%C3%A9%FFx/"),
    ("GET", "/api/inventory/products/caf%C3%A9/"),
    ("GET", "/api/inventory/products/a%2Fb/"),
    ("GET", "/api/inventory/products/%2E%2E/"),
    ("GET", "/api/inventory/products/%20/"),
    ("POST", "/api/inventory/products/%FF/adjustments/"),
]


@pytest.mark.parametrize(("method", "path"), URL_VECTORS, ids=[f"{m} {p}" for m, p in URL_VECTORS])
def test_url_and_method_vectors(pair: Pair, method: str, path: str) -> None:
    pair.same(method, path)


PAGE_QUERIES = [
    "",
    "?page=2&page_size=2",
    "?page=last&page_size=3",
    "?page=0",
    "?page=-1",
    "?page=abc",
    "?page=",
    "?page=1.0",
    "?page=%EF%BC%92&page_size=2",
    "?page=999",
    "?page_size=0",
    "?page_size=-1",
    "?page_size=1000",
    "?page_size=x",
    "?page_size=",
    "?page=2&page_size=1&b=2&a=1&a=0",
    "?page=2&page_size=1&q=%20sp+ace&e=%C3%A9&f=%E2%9C%93",
    "?page=2&page=1&page_size=1",
    "?x&page=2&page_size=1",
    "?page=3&page_size=1&flag",
    "?page_size=2&page=2&z=%2F%3F%26%3D",
    "?page=2&page_size=2%20",
    "?page= 2&page_size=2",
]


@pytest.mark.parametrize("query", PAGE_QUERIES)
def test_pagination_vectors(pair: Pair, stocked: list[str], query: str) -> None:
    pair.same("GET", f"/api/inventory/products/{query}")


def test_dry_runs_answer_alike_and_persist_nothing(pair: Pair, stocked: list[str]) -> None:
    dry = {"X-Strangler-Dry-Run": "1"}
    body = _create_body("dry", {})
    pair.same("POST", "/api/inventory/products/", body=body, headers=dry)
    pair.same("GET", f"/api/inventory/products/{body['sku']}/")
    pair.same("POST", "/api/inventory/products/", body={"sku": ""}, headers=dry)
    pair.same("POST", "/api/inventory/products/", body=body, headers={"X-Strangler-Dry-Run": "yes"})
    pair.same(
        "POST",
        f"/api/inventory/products/{stocked[2]}/adjustments/",
        body={"delta": 3, "reason": "dry"},
        headers=dry,
    )
    pair.same("GET", f"/api/inventory/products/{stocked[2]}/", headers=dry)
    reservation = {"order_id": str(uuid.uuid4()), "lines": [{"sku": stocked[2], "quantity": 1}]}
    pair.same("POST", "/api/inventory/reservations/", body=reservation, headers=dry)
    pair.same("GET", f"/api/inventory/products/{stocked[2]}/")


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Forwarded-Proto": "https"},
        {"Host": "UPPER.example:9"},
        {"Host": "under_score"},
        {"Host": "[::1]:8000"},
        {"Host": "trailing.dot."},
        {"X-Forwarded-Host": "elsewhere.example"},
    ],
    ids=["forwarded-proto", "upper-host", "invalid-host", "ipv6-host", "trailing-dot", "fwd-host"],
)
def test_host_and_scheme_vectors(pair: Pair, stocked: list[str], headers: dict[str, str]) -> None:
    pair.same("GET", "/api/inventory/products/?page_size=1&page=2", headers=headers)
    pair.same("POST", "/nope/", body={}, headers={**headers, "X-Strangler-Dry-Run": "1"})


def test_oversized_and_unsized_bodies(pair: Pair) -> None:
    # Both servers answer before reading the whole body and then close the connection; a
    # pooled keep-alive connection reused after that races the close, so each of these requests
    # goes on a connection of its own.
    huge = json.dumps({"sku": "x", "name": "n" * 2_700_000}).encode()
    for path, content_type in (
        ("/api/inventory/products/", "application/json"),
        ("/api/inventory/products/", "text/plain"),
        ("/api/inventory/products/nope/adjustments/", "application/json"),
    ):
        pair.same(
            "POST",
            path,
            content=huge,
            headers={"Content-Type": content_type, "Connection": "close"},
        )


def _monolith_events(pair: Pair, aggregate_ids: list[str]) -> list[dict[str, Any]]:
    """The monolith's outbox rows for these aggregates, as the envelopes its relay publishes."""
    with psycopg.connect(pair.monolith_db, row_factory=dict_row) as conn:
        rows = conn.execute(
            "SELECT event_id, seq, aggregate_type, aggregate_id, event_type, version, occurred_at,"
            " origin, payload FROM outbox_outboxevent WHERE aggregate_id = ANY(%s) ORDER BY seq",
            (aggregate_ids,),
        ).fetchall()
    return [EventEnvelope.model_validate(row).model_dump(mode="json") for row in rows]


def test_rows_synced_from_the_monolith_answer_byte_for_byte(pair: Pair) -> None:
    skus = [sku("synced-1"), sku("synced-2")]
    for s in skus:
        created = pair.monolith.post("/api/inventory/products/", json=_create_body(s, {"sku": s}))
        assert created.status_code == 201
    adjusted = pair.monolith.post(
        f"/api/inventory/products/{skus[0]}/adjustments/", json={"delta": 5, "reason": "r"}
    )
    assert adjusted.status_code == 200
    order = {"order_id": str(uuid.uuid4()), "lines": [{"sku": s, "quantity": 2} for s in skus]}
    reservation = pair.monolith.post("/api/inventory/reservations/", json=order).json()
    assert pair.monolith.post(f"/api/inventory/reservations/{reservation['id']}/commit/").is_success
    events = _monolith_events(pair, [*skus, reservation["id"]])
    assert len(events) == 2 + 1 + 3 + 3  # creates, adjustment, reserve (2 + 1), commit (2 + 1)
    engine = make_engine(pair.inventory_db)
    try:
        sessions = make_sessions(engine)
        outcomes = [apply_event(e, sessions=sessions) for e in reversed(events)]  # newest first
        assert [apply_event(e, sessions=sessions) for e in events] == ["duplicate"] * len(events)
    finally:
        engine.dispose()
    assert outcomes.count("applied") == 3  # the newest of each aggregate; the rest are stale
    paths = [f"/api/inventory/products/{s}/" for s in skus]
    paths.append(f"/api/inventory/reservations/{reservation['id']}/")
    for path in paths:
        mono, svc = pair.send("GET", path)
        assert (svc.status_code, svc.content) == (mono.status_code, mono.content), path


def test_listing_after_everything(pair: Pair) -> None:
    pair.same("GET", "/api/inventory/products/?page_size=500")

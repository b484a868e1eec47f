"""Routing decisions (pure): matching order, methods, /internal/, modes, canary, sticky keys."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import yaml
from multidict import CIMultiDict

from proxy.config import RouteTable
from proxy.routing import Decision, RequestFacts, Router
from proxy.sticky import (
    BUCKETS,
    bucket_of,
    bucket_of_hash,
    in_canary,
    jwt_subject,
    murmur_hash2,
    sticky_key,
)
from tests.support.processes import REPO_ROOT
from tests.support.random_refs import random_suffix

UPSTREAMS = {
    "monolith": {"url": "http://127.0.0.1:1"},
    "inventory": {"url": "http://127.0.0.1:2"},
    "payments": {"url": "http://127.0.0.1:3"},
}


def table(*routes: dict[str, Any]) -> RouteTable:
    return RouteTable.model_validate({"upstreams": UPSTREAMS, "routes": list(routes)})


def decide(router: Router, method: str, path: str, **headers: str) -> Decision:
    facts = RequestFacts(method, path, CIMultiDict(headers), "10.0.0.7")
    return router.decide(facts)


MATCHING = table(
    {"name": "api", "match": {"path_prefix": "/api/"}, "mode": "extracted", "target": "payments"},
    {
        "name": "inv-reads",
        "match": {"path_prefix": "/api/inventory/", "methods": ["GET", "HEAD"]},
        "mode": "extracted",
        "target": "inventory",
    },
    {
        "name": "inv-products-list",
        "match": {"path": "/api/inventory/products/"},
        "mode": "shadow",
        "target": "inventory",
    },
    {
        "name": "inv-deep",
        "match": {"path_prefix": "/api/inventory/products/"},
        "mode": "monolith",
        "target": "inventory",
    },
    {
        "name": "inv-deep-twin",
        "match": {"path_prefix": "/api/inventory/products/"},
        "mode": "extracted",
        "target": "payments",
    },
)


@pytest.mark.parametrize(
    ("method", "path", "route", "primary", "shadow"),
    [
        # No route: nobody (the proxy answers 404; the table decides what is public).
        ("GET", "/health/live", "-", None, None),
        ("GET", "/ap", "-", None, None),
        ("GET", "/admin/", "-", None, None),
        ("GET", "/metrics", "-", None, None),
        # The exact path beats every prefix, whatever the prefix's length.
        ("GET", "/api/inventory/products/", "inv-products-list", "monolith", "inventory"),
        ("POST", "/api/inventory/products/", "inv-products-list", "monolith", "inventory"),
        # The longest prefix wins; the first of two equal prefixes wins.
        ("GET", "/api/inventory/products/SKU-1/", "inv-deep", "monolith", None),
        ("GET", "/api/inventory/reservations/x/", "inv-reads", "inventory", None),
        # Methods: a POST skips the GET/HEAD route and lands on the shorter prefix.
        ("POST", "/api/inventory/reservations/", "api", "payments", None),
        ("HEAD", "/api/inventory/reservations/", "inv-reads", "inventory", None),
        ("DELETE", "/api/orders/1/", "api", "payments", None),
        # Prefixes are plain string prefixes.
        ("GET", "/api", "-", None, None),
    ],
)
def test_route_matching(
    method: str, path: str, route: str, primary: str | None, shadow: str | None
) -> None:
    decision = decide(Router(MATCHING), method, path)
    assert (decision.route_name, decision.primary, decision.shadow) == (route, primary, shadow)


def extracted(name: str, target: str = "inventory", **match: Any) -> dict[str, Any]:
    """A route sending what it matches to ``target`` (so the decision names the route)."""
    return {"name": name, "match": match, "mode": "extracted", "target": target}


PATTERNS = table(
    extracted("orders", path_prefix="/api/orders/"),
    extracted("order-cancel", path_pattern="/api/orders/{id}/cancel/", methods=["POST"]),
    extracted("order-by-number", "payments", path_pattern="/api/orders/{id:[0-9]+}/"),
    extracted("order-any", path_pattern="/api/orders/{id}/"),
    extracted("order-export", "payments", path="/api/orders/export/"),
    extracted("orders-beta", "payments", path_prefix="/api/orders/", headers={"X-Beta": "1"}),
    extracted("orders-traced", "payments", path_prefix="/api/orders/", headers={"X-Trace": "*"}),
)


@pytest.mark.parametrize(
    ("method", "path", "headers", "route"),
    [
        # A pattern placeholder is one whole segment.
        ("POST", "/api/orders/42/cancel/", {}, "order-cancel"),
        ("POST", "/api/orders/4/2/cancel/", {}, "orders"),
        ("POST", "/api/orders//cancel/", {}, "orders"),
        ("GET", "/api/orders/42/cancel/", {}, "orders"),  # methods still apply
        # A regex placeholder must match the whole segment; patterns go in file order.
        ("GET", "/api/orders/42/", {}, "order-by-number"),
        ("GET", "/api/orders/42a/", {}, "order-any"),
        ("GET", "/api/orders/42/items/", {}, "orders"),
        # Exact beats a pattern that also fits.
        ("GET", "/api/orders/export/", {}, "order-export"),
        # A header-conditioned prefix beats the same prefix without one, whatever the file order;
        # an exact value must be equal, "*" only asks for presence; names are case-insensitive.
        ("GET", "/api/orders/", {"X-Beta": "1"}, "orders-beta"),
        ("GET", "/api/orders/", {"x-beta": "1"}, "orders-beta"),
        ("GET", "/api/orders/", {"X-Beta": "2"}, "orders"),
        ("GET", "/api/orders/", {"X-Trace": "anything"}, "orders-traced"),
        ("GET", "/api/orders/", {"X-Beta": "1", "X-Trace": "t"}, "orders-beta"),
        # A pattern beats a header-conditioned prefix.
        ("GET", "/api/orders/7/", {"X-Beta": "1"}, "order-by-number"),
    ],
)
def test_patterns_headers_and_precedence(
    method: str, path: str, headers: dict[str, str], route: str
) -> None:
    assert decide(Router(PATTERNS), method, path, **headers).route_name == route


def test_considered_lists_the_routes_looked_at_in_order() -> None:
    considered: list[tuple[Any, str]] = []
    facts = RequestFacts("GET", "/api/orders/42a/", CIMultiDict({"X-Beta": "2"}), "10.0.0.7")
    decision = Router(PATTERNS).decide(facts, considered)
    assert decision.route_name == "order-any"
    assert [(r.name, why) for r, why in considered] == [
        ("order-cancel", "path does not fit the pattern"),
        ("order-by-number", "path does not fit the pattern"),
        ("order-any", "matched"),
    ]
    considered.clear()
    facts = RequestFacts("DELETE", "/api/orders/", CIMultiDict({"X-Beta": "2"}), "10.0.0.7")
    assert Router(PATTERNS).decide(facts, considered).route_name == "orders"
    assert [(r.name, why) for r, why in considered][-3:] == [
        ("orders-beta", "header X-Beta is not '1'"),
        ("orders-traced", "header X-Trace is missing"),
        ("orders", "matched"),
    ]


@pytest.mark.parametrize(
    ("match", "problem"),
    [
        ({"path_pattern": "/a/{id"}, "unbalanced"),
        ({"path_pattern": "/a/{id}/{id}/"}, "appears twice"),
        ({"path_pattern": "/a/{id:[}/"}, "bad regex"),
        ({"path_pattern": "a/{id}/"}, "must start with '/'"),
        ({"path": "/a/", "path_pattern": "/a/{id}/"}, "exactly one of"),
        ({"path_prefix": "/a/", "headers": {"bad name": "1"}}, "not a header name"),
        ({"path_prefix": "/a/", "headers": {"X-A": "1", "x-a": "2"}}, "named twice"),
    ],
)
def test_bad_match_rules_are_refused(match: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        table({"name": "r", "match": match})


@pytest.mark.parametrize(
    "path", ["/internal/", "/internal", "/internal/outbox/stats", "/internal/sync/stats"]
)
def test_internal_paths_are_never_forwarded(path: str) -> None:
    catch_all = table(
        {"name": "all", "match": {"path_prefix": "/"}, "mode": "extracted", "target": "inventory"}
    )
    decision = decide(Router(catch_all), "GET", path)
    assert decision.primary is None
    assert "internal" in decision.reason


def test_internal_lookalike_is_forwarded() -> None:
    catch_all = table({"name": "all", "match": {"path_prefix": "/"}, "mode": "monolith"})
    assert decide(Router(catch_all), "GET", "/internals/x").primary == "monolith"


@pytest.mark.parametrize(
    ("mode", "extra", "primary", "shadow", "fallback"),
    [
        ("monolith", {}, "monolith", None, None),
        ("shadow", {"fallback": "monolith"}, "monolith", "inventory", None),
        ("extracted", {}, "inventory", None, None),
        ("extracted", {"fallback": "monolith"}, "inventory", None, "monolith"),
        ("canary", {"percent": 100, "fallback": "monolith"}, "inventory", None, "monolith"),
        ("canary", {"percent": 0, "fallback": "monolith"}, "monolith", None, None),
    ],
)
def test_modes_pick_upstreams(
    mode: str, extra: dict[str, Any], primary: str, shadow: str | None, fallback: str | None
) -> None:
    spec = {"name": "r", "match": {"path_prefix": "/api/"}, "mode": mode, "target": "inventory"}
    decision = decide(Router(table({**spec, **extra})), "GET", "/api/x/")
    assert (decision.mode, decision.primary, decision.shadow, decision.fallback) == (
        mode,
        primary,
        shadow,
        fallback,
    )


def test_buckets_are_stable_and_in_range() -> None:
    keys = [f"user-{n}" for n in range(2000)]
    first = [bucket_of("inventory-reads", k) for k in keys]
    assert first == [bucket_of("inventory-reads", k) for k in keys]
    assert all(0 <= b < BUCKETS for b in first)
    # Another route shuffles keys differently (a key is not in every route's first 10%).
    assert first != [bucket_of("other-route", k) for k in keys]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # nginx's ngx_murmur_hash2 (src/core/ngx_murmurhash.c) compiled and run on these bytes:
        # every tail length (0-3 bytes after the 4-byte blocks) once.
        (b"", 0),
        (b"a", 2456313694),
        (b"ab", 446775395),
        (b"abc", 324500635),
        (b"abcd", 646393889),
        (b"abcde", 1594468574),
        (b"hello world", 1151865881),
        (b"inventory-reads:key-1", 2002628211),
    ],
)
def test_murmur_hash2_is_nginx_s(text: bytes, expected: int) -> None:
    assert murmur_hash2(text) == expected


def test_bucket_admits_exactly_what_nginx_split_clients_admits() -> None:
    """nginx puts a hash in a ``p``/100 % part when ``hash < p * 0xffffffff // 10000`` (and
    everything at 100%); the bucket must say the same for every hash and percent."""
    full = 0xFFFFFFFF
    hashes = [0, 1, full - 1, full] + [murmur_hash2(f"k{n}".encode()) for n in range(3000)]
    # Hashes right at each threshold and one below it, where an off-by-one would show.
    for p in (1, 2, 3333, 5000, 9999):
        edge = p * full // 10_000
        hashes += [edge - 1, edge]
    for value in hashes:
        bucket = bucket_of_hash(value)
        assert 0 <= bucket < BUCKETS
        for p in (0, 1, 2, 999, 3333, 5000, 9999, 10_000):
            nginx_admits = p == 10_000 or (p > 0 and value < p * full // 10_000)
            assert in_canary(bucket, p / 100) == nginx_admits, (value, p)


PERCENTS = (0, 0.5, 1, 5, 10, 25, 33.33, 50, 75, 99, 100)


def test_canary_is_monotonic_and_shares_are_exact() -> None:
    """The workshop's canaried route, 10,000 keys: every share within 1 point of its setting.

    Deterministic on purpose: which keys land where is a hash, so for an arbitrary route name
    a share is binomial (sd <= 0.5 points at 10,000 keys) and a 1-point bound fails now and then
    - a random name here made this test flaky, and ``inventory-writes`` with these keys admits
    34.51% at 33.33%. The 1-point figure is a typical bound, not a guarantee; the next test
    bounds arbitrary names at 3 points."""
    route_name = "inventory-reads"
    keys = [f"key-{n}" for n in range(10_000)]
    buckets = [bucket_of(route_name, key) for key in keys]
    previous: set[int] = set()
    for percent in PERCENTS:
        admitted = {i for i, b in enumerate(buckets) if in_canary(b, percent)}
        assert previous <= admitted, f"raising to {percent}% moved keys back to the monolith"
        share = 100 * len(admitted) / len(keys)
        assert abs(share - percent) <= 1, f"{percent}% admitted {share:.2f}% of keys"
        previous = admitted
    assert len(previous) == len(keys)


def test_canary_shares_of_any_route_name_stay_near_the_setting() -> None:
    """50 random route names x 10,000 keys: monotonic, and no share off by more than 3 points
    (6 sd: a sound hash never gets there; a biased one, or a wrong threshold, does)."""
    keys = [f"key-{n}" for n in range(10_000)]
    for _ in range(50):
        route_name = f"canary-{random_suffix()}"
        buckets = [bucket_of(route_name, key) for key in keys]
        previous: set[int] = set()
        for percent in PERCENTS:
            admitted = {i for i, b in enumerate(buckets) if in_canary(b, percent)}
            assert previous <= admitted
            share = 100 * len(admitted) / len(keys)
            assert abs(share - percent) <= 3, f"{route_name}: {percent}% admitted {share:.2f}%"
            previous = admitted


@pytest.mark.parametrize(
    ("percent", "ok"), [(0.5, True), (12.25, True), (0.01, True), (0.005, False)]
)
def test_percent_granularity_is_a_hundredth(percent: float, ok: bool) -> None:
    spec = {"name": "c", "match": {"path_prefix": "/"}, "mode": "canary", "target": "inventory"}
    if ok:
        assert table({**spec, "percent": percent}).routes[0].percent == percent
    else:
        with pytest.raises(ValueError, match="two decimal places"):
            table({**spec, "percent": percent})


def test_canary_decision_follows_the_bucket_and_is_sticky() -> None:
    spec = {
        "name": "inv",
        "match": {"path_prefix": "/api/"},
        "mode": "canary",
        "target": "inventory",
        "percent": 30,
        "sticky": "header:X-Client-Id",
    }
    router = Router(table(spec))
    for n in range(300):
        key = f"client-{n}"
        decision = decide(router, "GET", "/api/x/", **{"X-Client-Id": key})
        expected = "inventory" if bucket_of("inv", key) < 3000 else "monolith"
        assert decision.primary == expected
        assert decision.bucket == bucket_of("inv", key)
        again = decide(router, "GET", "/api/other/", **{"x-client-id": key})
        assert again.primary == decision.primary


def _jwt(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    ("sticky", "headers", "key", "source"),
    [
        ("jwt:sub", {"Authorization": f"Bearer {_jwt({'sub': 'cust-42'})}"}, "cust-42", "jwt:sub"),
        ("jwt:sub", {"Authorization": "Bearer not.a-jwt"}, "10.0.0.7", "client:addr (fallback)"),
        ("jwt:sub", {"Authorization": f"Basic {_jwt({'sub': 'x'})}"}, "10.0.0.7", None),
        ("jwt:sub", {}, "10.0.0.7", None),
        ("header:X-Client-Id", {"x-client-id": "abc"}, "abc", "header:X-Client-Id"),
        ("header:X-Client-Id", {"X-Other": "abc"}, "10.0.0.7", None),
        ("cookie:session", {"Cookie": "a=1; session=s-9; b=2"}, "s-9", "cookie:session"),
        ("cookie:session", {"Cookie": "sessions=s-9"}, "10.0.0.7", None),
        ("client:addr", {"X-Forwarded-For": "1.2.3.4"}, "10.0.0.7", "client:addr"),
    ],
)
def test_sticky_key_sources(
    sticky: str, headers: dict[str, str], key: str, source: str | None
) -> None:
    got_key, got_source = sticky_key(sticky, CIMultiDict(headers), "10.0.0.7")
    assert got_key == key
    if source is not None:
        assert got_source == source


def test_jwt_subject_is_read_without_verifying() -> None:
    assert jwt_subject(f"Bearer {_jwt({'sub': 'u-1', 'exp': 1})}") == "u-1"
    assert jwt_subject(f"bearer {_jwt({'sub': 7})}") == "7"
    assert jwt_subject(f"Bearer {_jwt({'name': 'no sub'})}") is None


def test_explain_key_override_picks_the_bucket() -> None:
    spec = {
        "name": "inv",
        "match": {"path_prefix": "/api/"},
        "mode": "canary",
        "target": "inventory",
        "percent": 50,
    }
    facts = RequestFacts("GET", "/api/x/", CIMultiDict(), "10.0.0.7", key_override="given")
    decision = Router(table(spec)).decide(facts)
    assert decision.bucket == bucket_of("inv", "given")
    assert "given" in decision.reason


@pytest.mark.parametrize("mode", ["as shipped", "extracted"])
@pytest.mark.parametrize(
    "path",
    [
        "/docs",
        "/docs/assets/swagger-ui.css",
        "/openapi.json",
        "/api/schema/swagger-ui/",
        "/static/admin/css/base.css",
        "/admin/",
    ],
)
def test_no_route_of_the_shipped_table_takes_a_docs_or_admin_page(mode: str, path: str) -> None:
    """Each service's /docs and /openapi.json, the monolith's Swagger UI, its admin and their
    static files are on each owner's own port: the façade answers them 404 itself, with every
    route as shipped or extracted, so none reaches a service (or the monolith) through it. The
    contract itself stays public there (``api-schema``)."""
    data = yaml.safe_load((REPO_ROOT / "proxy" / "routes.default.yaml").read_text())
    if mode == "extracted":
        for spec in data["routes"]:
            if "target" in spec:
                spec.update(mode="extracted", percent=0)
    router = Router(RouteTable.model_validate(data))

    assert decide(router, "GET", path).primary is None
    assert decide(router, "GET", "/api/schema/").primary == "monolith"

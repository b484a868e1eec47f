"""Hygiene at the client side of a real proxy: forwarding headers only from trusted proxies,
limits on request heads (431), and the head-read deadline against slow clients (408)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from multidict import CIMultiDict

from proxy.headers import ForwardedTrust
from proxy.settings import parse_networks
from proxy.sticky import bucket_of
from tests.proxy.harness import Echo, RunningProxy, route, routes_yaml, running_proxy, upstream
from tests.support.random_refs import random_suffix


@pytest.mark.parametrize(
    ("peer", "xff", "client"),
    [
        ("203.0.113.5", "1.2.3.4", "203.0.113.5"),  # untrusted peer: its header means nothing
        ("10.0.0.2", "1.2.3.4", "1.2.3.4"),
        ("10.0.0.2", "6.6.6.6, 1.2.3.4", "1.2.3.4"),  # the left entry could be forged
        ("10.0.0.2", "1.2.3.4, 10.0.0.9", "1.2.3.4"),  # trusted hops are skipped
        ("10.0.0.2", "10.0.0.8, 10.0.0.9", "10.0.0.8"),
        ("10.0.0.2", "not-an-ip", "10.0.0.2"),
        ("10.0.0.2", "", "10.0.0.2"),
    ],
)
def test_client_address_behind_trusted_proxies(peer: str, xff: str, client: str) -> None:
    trust = ForwardedTrust(parse_networks("10.0.0.0/8, ::1"))
    headers = CIMultiDict({"X-Forwarded-For": xff} if xff else {})
    assert trust.client_address(peer, headers) == client


def test_bad_trusted_proxy_setting_is_refused() -> None:
    with pytest.raises(ValueError, match="not an IP address or CIDR: 'ten'"):
        parse_networks("10.0.0.0/8, ten")


@pytest.fixture(scope="module")
def proxies(
    tmp_path_factory: pytest.TempPathFactory, monolith: Echo
) -> Iterator[dict[str, RunningProxy]]:
    """One proxy that trusts 127.0.0.1 (the tests' address) and one that trusts nobody."""
    text = routes_yaml(
        {"monolith": upstream(monolith.url), "inventory": upstream(monolith.url)},
        [
            route(
                "split",
                match={"path_prefix": "/split/"},
                mode="canary",
                target="inventory",
                percent=50,
            ),
            # Every other path is public here, on the monolith (the table decides what is).
            route("rest", match={"path_prefix": "/"}, mode="monolith"),
        ],
    )
    limits = {"PROXY_MAX_HEADERS": "30", "PROXY_MAX_HEADER_BYTES": "2048"}
    trusting_var = tmp_path_factory.mktemp("trusting")
    plain_var = tmp_path_factory.mktemp("plain")
    with (
        running_proxy(
            trusting_var, text, PROXY_TRUSTED_PROXIES="127.0.0.0/8", **limits
        ) as trusting,
        running_proxy(plain_var, text, PROXY_HEADER_TIMEOUT_S="1", **limits) as plain,
    ):
        yield {"trusting": trusting, "plain": plain}


def received(resp: httpx.Response, name: str) -> list[str]:
    return [v for k, v in resp.json()["headers"] if k.lower() == name.lower()]


def test_forwarding_headers_are_kept_and_extended_only_from_trusted_proxies(
    proxies: dict[str, RunningProxy],
) -> None:
    sent = {
        "X-Forwarded-For": "198.51.100.7",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "shop.example",
        "Forwarded": "for=198.51.100.7;proto=https",
        "X-Strangler-Dry-Run": "1",
    }
    kept = httpx.get(f"{proxies['trusting'].url}/api/x/", headers=sent)
    assert received(kept, "X-Forwarded-For") == ["198.51.100.7, 127.0.0.1"]
    assert received(kept, "X-Forwarded-Proto") == ["https"]
    assert received(kept, "X-Forwarded-Host") == ["shop.example"]
    assert received(kept, "Forwarded") == ["for=198.51.100.7;proto=https"]
    assert received(kept, "X-Strangler-Dry-Run") == []  # internal headers: never from clients

    replaced = httpx.get(f"{proxies['plain'].url}/api/x/", headers=sent)
    assert received(replaced, "X-Forwarded-For") == ["127.0.0.1"]
    assert received(replaced, "X-Forwarded-Proto") == ["http"]
    assert received(replaced, "X-Forwarded-Host") == [proxies["plain"].url.removeprefix("http://")]
    assert received(replaced, "Forwarded") == []


def test_sticky_client_address_is_the_forwarded_one_only_behind_a_trusted_proxy(
    proxies: dict[str, RunningProxy],
) -> None:
    for n in range(20):
        client = f"198.51.100.{n}"
        expected = "inventory" if bucket_of("split", client) < 5000 else "monolith"
        resp = httpx.get(f"{proxies['trusting'].url}/split/", headers={"X-Forwarded-For": client})
        assert resp.headers["X-Strangler-Upstream"] == expected
    own = "inventory" if bucket_of("split", "127.0.0.1") < 5000 else "monolith"
    for n in range(5):
        resp = httpx.get(
            f"{proxies['plain'].url}/split/", headers={"X-Forwarded-For": f"9.9.9.{n}"}
        )
        assert resp.headers["X-Strangler-Upstream"] == own


def raw_exchange(base_url: str, head: bytes) -> bytes:
    host, _, port = base_url.removeprefix("http://").partition(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


@pytest.mark.parametrize(
    ("extra", "status"),
    [
        ([f"X-H{n}: v" for n in range(20)], b"200"),
        ([f"X-H{n}: v" for n in range(40)], b"431"),
        (["X-Long: " + "a" * 1900], b"200"),
        (["X-Long: " + "a" * 4000], b"431"),
    ],
    ids=["20-headers", "40-headers", "1900-byte-header", "4000-byte-header"],
)
def test_request_heads_over_the_limits_are_431(
    proxies: dict[str, RunningProxy], monolith: Echo, extra: list[str], status: bytes
) -> None:
    path = f"/limits/{random_suffix()}/"
    lines = [f"GET {path} HTTP/1.1", "Host: x", "Connection: close", *extra]
    answer = raw_exchange(proxies["plain"].url, ("\r\n".join(lines) + "\r\n\r\n").encode())
    assert answer.split(b" ", 2)[1] == status, answer[:200]
    assert (path in monolith.seen_paths()) == (status == b"200")


def test_a_client_dribbling_its_head_is_cut_off_with_408(
    proxies: dict[str, RunningProxy], monolith: Echo
) -> None:
    proxy = proxies["plain"]  # header deadline: 1 s
    path = f"/slow/{random_suffix()}/"
    host, _, port = proxy.url.removeprefix("http://").partition(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n".encode())
        started = time.monotonic()
        answer = b""
        try:
            for n in range(100):  # the attack: a header line every 0.1 s, never the end
                sock.sendall(f"X-Drip-{n}: x\r\n".encode())
                time.sleep(0.1)  # the client's pace, not a wait for the proxy
        except OSError:  # the proxy closed the connection under us
            pass
        sock.settimeout(5)
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except OSError:
            pass
        elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert elapsed < 9  # cut off long before the 10 s the dribble would take
    assert path not in monolith.seen_paths()
    # A well-behaved client on a kept-alive connection is unaffected, even when idle for longer
    # than the head deadline between requests.
    with httpx.Client(base_url=proxy.url) as client:
        assert client.get("/api/a/").status_code == 200
        time.sleep(1.5)  # idle past the head deadline: the behaviour under test, not a wait
        assert client.get("/api/b/").status_code == 200

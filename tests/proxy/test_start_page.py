"""The start page (``GET /`` on the admin port) on a real proxy: behind the dashboard's sign-in,
back to the start page after it, and a link to every page of the stack, built from the route
table's upstreams (every admin link answers with the session cookie)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from proxy.dashboard import SESSION_COOKIE
from tests.proxy.harness import Echo, RunningProxy, route, routes_yaml, running_proxy, upstream

HREF = re.compile(r'(?:href|src|action)="([^"]+)"')


@pytest.fixture
def proxy(tmp_path: Path, monolith: Echo, inventory: Echo) -> Iterator[RunningProxy]:
    table = routes_yaml(
        {"monolith": upstream(monolith.url), "inventory": upstream(inventory.url)},
        [route("reads", mode="shadow", target="inventory")],
    )
    with running_proxy(tmp_path, table) as running:
        yield running


def test_the_start_page_needs_the_sign_in_and_returns_to_itself(proxy: RunningProxy) -> None:
    with httpx.Client(base_url=proxy.admin_url, timeout=5) as anonymous:
        page = anonymous.get("/")
        assert page.status_code == 401 and 'name="token"' in page.text
        assert '<input type="hidden" name="next" value="/">' in page.text
        assert anonymous.get("/", params={"token": "nope"}).status_code == 401
        elsewhere = anonymous.post(
            "/dashboard/login", data={"token": proxy.token, "next": "https://example.com/"}
        )
        assert (elsewhere.status_code, elsewhere.headers["Location"]) == (303, "/dashboard")

    with httpx.Client(base_url=proxy.admin_url, timeout=5) as form:
        posted = form.post("/dashboard/login", data={"token": proxy.token, "next": "/"})
        assert (posted.status_code, posted.headers["Location"]) == (303, "/")
        assert form.get("/").status_code == 200

    with httpx.Client(base_url=proxy.admin_url, timeout=5, follow_redirects=True) as browser:
        signed_in = browser.get("/", params={"token": proxy.token})
        assert signed_in.status_code == 200 and "Strangler Fig" in signed_in.text
        (redirect,) = signed_in.history
        assert (redirect.status_code, redirect.headers["Location"]) == (303, "/")
        assert SESSION_COOKIE in browser.cookies


def test_it_links_every_page_from_the_route_table(
    proxy: RunningProxy, monolith: Echo, inventory: Echo
) -> None:
    with httpx.Client(base_url=proxy.admin_url, timeout=5) as browser:
        page = browser.get("/", params={"token": proxy.token}, follow_redirects=True)
        links = HREF.findall(page.text)

        assert f"{monolith.url}/api/schema/swagger-ui/" in links
        assert f"{monolith.url}/admin/" in links
        assert f"{inventory.url}/docs" in links
        assert f"{inventory.url}/openapi.json" in links
        own = [link for link in links if link.startswith("/")]
        assert {"/dashboard", "/metrics", "/admin/routes", "/admin/stats"} <= set(own)
        assert "/admin/recordings?route=reads" in own
        for link in own:
            if link == "/dashboard/logout":
                continue
            answer = browser.get(link)
            if link == "/admin/processes":  # no `strangler up` supervises this proxy
                assert answer.json()["error"] == "not_supervised"
                continue
            assert answer.status_code == 200, f"{link}: {answer.status_code} {answer.text}"
        # Every other link is the table's: an upstream's page, never a third host.
        upstreams = (monolith.url, inventory.url)
        assert all(link.startswith(upstreams) for link in links if link not in own)

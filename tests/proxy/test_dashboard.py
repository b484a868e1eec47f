"""The dashboard on a real proxy: sign-in and the session cookie over real HTTP, then a real
headless Chromium (Playwright) that reads the routes and a stored mismatch, and flips a route
through the page."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from proxy.config import load_route_table
from proxy.config_edit import read_audit
from proxy.dashboard import SESSION_COOKIE
from tests.proxy.harness import Echo, RunningProxy, route, routes_yaml, running_proxy, upstream
from tests.support.random_refs import random_suffix
from tests.support.waiting import wait_for


def shadow_routes(monolith: Echo, inventory: Echo) -> str:
    return routes_yaml(
        {"monolith": upstream(monolith.url), "inventory": upstream(inventory.url)},
        [
            route("reads", mode="shadow", target="inventory"),
            route("writes", match={"path_prefix": "/api/", "methods": ["POST"]}),
        ],
    )


@pytest.fixture
def proxy(tmp_path: Path, monolith: Echo, inventory: Echo) -> Iterator[RunningProxy]:
    with running_proxy(tmp_path, shadow_routes(monolith, inventory)) as running:
        yield running


def test_sign_in_sets_a_derived_http_only_cookie(proxy: RunningProxy) -> None:
    with httpx.Client(base_url=proxy.admin_url, timeout=5, follow_redirects=True) as anonymous:
        page = anonymous.get("/dashboard")
        assert page.status_code == 401 and 'name="token"' in page.text
        wrong = anonymous.get("/dashboard", params={"token": "nope"})
        assert wrong.status_code == 401 and "not valid" in wrong.text
        assert anonymous.get("/admin/routes").status_code == 401
        assert anonymous.get("/dashboard/dashboard.js").status_code == 200
        assert anonymous.get("/dashboard/secrets.txt").status_code == 404

    with httpx.Client(base_url=proxy.admin_url, timeout=5, follow_redirects=True) as browser:
        signed_in = browser.get("/dashboard", params={"token": proxy.token})
        assert signed_in.status_code == 200 and 'id="routes"' in signed_in.text
        (redirect,) = signed_in.history
        assert redirect.status_code == 303 and redirect.headers["Location"] == "/dashboard"
        cookie = redirect.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert proxy.token not in cookie
        assert browser.get("/admin/routes").status_code == 200

        # A change authorised by the cookie must carry the dashboard's header.
        refused = browser.patch("/admin/routes/reads", json={"mode": "monolith"})
        assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
        assert load_route_table(proxy.routes_file).route("reads").mode == "shadow"
        done = browser.patch(
            "/admin/routes/reads",
            json={"mode": "monolith"},
            headers={"X-Strangler-Dashboard": "1", "X-Actor": "dashboard"},
        )
        assert done.status_code == 200, done.text
        assert load_route_table(proxy.routes_file).route("reads").mode == "monolith"
        assert read_audit(proxy.routes_file)[0]["actor"] == "dashboard"

        signed_out = browser.post("/dashboard/logout")
        assert signed_out.status_code == 401  # back on the sign-in form
        assert browser.get("/admin/routes").status_code == 401

    with httpx.Client(base_url=proxy.admin_url, timeout=5, follow_redirects=True) as form:
        assert form.post("/dashboard/login", data={"token": "nope"}).status_code == 401
        posted = form.post("/dashboard/login", data={"token": proxy.token})
        assert posted.status_code == 200 and SESSION_COOKIE in form.cookies


def chromium_path() -> str:
    found = os.environ.get("STRANGLER_CHROMIUM") or shutil.which("chromium")
    if not found:
        pytest.fail("no Chromium: run scripts/test_tools.sh (Debian package chromium)")
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=["--no-sandbox"]
        )
        yield launched
        launched.close()


def test_the_page_shows_routes_and_mismatches_and_flips_a_route(
    proxy: RunningProxy, browser: Browser
) -> None:
    path = f"/api/dash/{random_suffix()}/"
    assert httpx.get(f"{proxy.url}{path}?page=1").status_code == 200
    wait_for(lambda: proxy.admin_json("/admin/mismatches")["count"] == 1, message="a mismatch")

    page: Page = browser.new_page()
    page.goto(f"{proxy.admin_url}/dashboard")
    page.fill("#token", proxy.token)
    page.click("button[type=submit]")

    row = page.locator('#routes tr[data-route="reads"]')
    expect(row.locator(".col-mode")).to_have_text("shadow")
    expect(row.locator(".col-target")).to_have_text("inventory")
    expect(row.locator(".col-breaker")).to_have_text("inventory: closed")
    expect(page.locator('#routes tr[data-route="writes"] .col-mode')).to_have_text("monolith")

    # The stored mismatch, and its two bodies side by side with the differing line marked.
    mismatch = page.locator("#mismatches tbody tr").first
    expect(mismatch).to_contain_text(f"GET {path}?page=1")
    expect(mismatch).to_contain_text("200 vs 200")
    mismatch.click()
    expect(page.locator("#detail-differences")).to_contain_text("$.upstream")
    expect(page.locator("#detail-expected .changed").first).to_contain_text('"monolith"')
    expect(page.locator("#detail-actual .changed").first).to_contain_text('"inventory"')

    # A refused change says why and leaves the file alone.
    row.locator("select[name=mode]").select_option("canary")
    row.locator("input[name=percent]").fill("101")
    row.locator("button[type=submit]").click()
    expect(page.locator("#status")).to_have_text(
        re.compile(r"reads: refused: .*percent.*less than or equal to 100", re.S)
    )
    assert load_route_table(proxy.routes_file).route("reads").mode == "shadow"

    # Flip it: the file, the running proxy and the page all agree.
    row.locator("input[name=percent]").fill("25")
    row.locator("button[type=submit]").click()
    expect(page.locator("#status")).to_have_text(re.compile(r"reads: mode canary, 25%"))
    expect(row.locator(".col-mode")).to_have_text("canary")
    expect(row.locator(".col-percent")).to_have_text("25%")
    flipped = load_route_table(proxy.routes_file).route("reads")
    assert (flipped.mode, flipped.percent) == ("canary", 25)
    served = proxy.admin_json("/admin/routes")["routes"][0]
    assert (served["mode"], served["percent"]) == ("canary", 25)
    assert read_audit(proxy.routes_file)[0]["actor"] == "dashboard"
    page.close()

"""The pages of the stack, as a browser sees them, on real processes: the start page on the
proxy's admin port, the monolith's Swagger UI and Django admin (served by gunicorn, with their
static files), and each service's ``/docs``. Every page answers 200, every asset it references
(script, stylesheet, icon, the OpenAPI it loads) answers 200, and no page names a host outside
the stack: the docs work offline."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from strangler.stack import ADMIN_ACCOUNT, ADMIN_PASSWORD_FILE, Ports, admin_account_step
from tests.support.components import StackUrls, running, whole_stack_environment
from tests.support.processes import run_to_end

ASSET = re.compile(r'<(?:link|script)\b[^>]*?\b(?:href|src)="([^"]+)"')
#: The OpenAPI document a Swagger UI page loads (its ``url:`` setting).
SPEC_URL = re.compile(r"""\burl: *["']([^"']+)["']""")
LINK = re.compile(r'<a\b[^>]*?\bhref="([^"]+)"')
ABSOLUTE_URL = re.compile(r"""https?://[^\s"'<>)]+""")
#: An XML namespace (an inline SVG's ``xmlns``): a name, never fetched.
NAMESPACE = re.compile(r'\bxmlns(?::\w+)?="[^"]*"')


@dataclass
class Pages(StackUrls):
    ports: Ports
    var: Path
    env: dict[str, str]
    first_admin_step: str


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Pages]:
    tmp_path = tmp_path_factory.mktemp("pages")
    with ExitStack() as stack:
        ports, env = stack.enter_context(
            whole_stack_environment(tmp_path, redis_url, "pages", migrated=True)
        )
        var = Path(env["STRANGLER_VAR_DIR"])
        created = run_to_end(admin_account_step(var), env)
        names = ["monolith", "inventory", "payments", "orders", "proxy"]
        stack.enter_context(running(names, ports=ports, env=env, log_dir=tmp_path / "logs"))
        yield Pages(ports=ports, var=var, env=env, first_admin_step=created)


def _stack_hosts(pages: Pages) -> set[str]:
    return {f"127.0.0.1:{port}" for port in vars(pages.ports).values()}


def _check_page(client: httpx.Client, url: str, hosts: set[str]) -> httpx.Response:
    """``url`` answers 200 (after redirects); when it is HTML, each asset it references answers
    200 and every absolute URL in it is one of the stack's ``hosts``."""
    page = client.get(url, follow_redirects=True)
    assert page.status_code == 200, f"{url}: {page.status_code} {page.text[:300]}"
    if not page.headers["Content-Type"].startswith("text/html"):
        return page
    named = ABSOLUTE_URL.findall(NAMESPACE.sub("", page.text))
    outside = {u for u in named if urlsplit(u).netloc not in hosts}
    assert not outside, f"{url} names hosts outside the stack: {sorted(outside)}"
    assets = ASSET.findall(page.text) + SPEC_URL.findall(page.text)
    for asset in assets:
        answer = client.get(urljoin(str(page.url), asset))
        assert answer.status_code == 200, f"{url}: its {asset} answers {answer.status_code}"
        assert answer.content, f"{url}: its {asset} is empty"
    return page


def test_the_admin_account_step_creates_the_superuser_once(pages: Pages) -> None:
    password_file = pages.var / ADMIN_PASSWORD_FILE

    again = run_to_end(admin_account_step(pages.var), pages.env)

    assert pages.first_admin_step.strip() == f"created {ADMIN_ACCOUNT}"
    assert again.strip() == f"unchanged {ADMIN_ACCOUNT}"
    assert password_file.stat().st_mode & 0o777 == 0o600


def test_every_page_the_start_page_links_answers_with_its_assets(pages: Pages) -> None:
    hosts = _stack_hosts(pages)
    token = pages.env["PROXY_ADMIN_TOKEN"]
    with httpx.Client(timeout=30) as browser:
        start = browser.get(f"{pages.admin_url}/", params={"token": token}, follow_redirects=True)
        assert start.status_code == 200
        _check_page(browser, str(start.url), hosts)
        links = [urljoin(str(start.url), link) for link in LINK.findall(start.text)]
        elsewhere = [link for link in links if not link.startswith(pages.admin_url)]

        expected = {
            f"{pages.monolith_url}/api/schema/swagger-ui/",
            f"{pages.monolith_url}/admin/",
            f"{pages.inventory_url}/docs",
            f"{pages.payments_url}/docs",
            f"{pages.orders_url}/docs",
        }
        assert expected <= set(elsewhere)
        for link in elsewhere:
            _check_page(browser, link, hosts)


@pytest.mark.parametrize("service", ["inventory", "payments", "orders"])
def test_a_services_docs_leave_its_contract_as_it_was(pages: Pages, service: str) -> None:
    base = getattr(pages, f"{service}_url")
    with httpx.Client(base_url=base, timeout=30) as client:
        spec = client.get("/openapi.json").json()
        # The contract's paths, and not one of the docs' own.
        assert f"/api/{service}/" in spec["paths"] or "/api/inventory/products/" in spec["paths"]
        assert not {"/docs", "/openapi.json"} & set(spec["paths"])
        unknown = client.get("/docs/assets/nothing-here.js")
        assert (unknown.status_code, unknown.json()["error"]) == (404, "not_found")
        assert client.get("/docs/").status_code == 404  # exact paths, as everywhere else
        refused = client.post("/docs")
        assert (refused.status_code, refused.json()["error"]) == (405, "method_not_allowed")


def test_the_django_admin_signs_in_with_the_workshop_account_and_has_its_css(
    pages: Pages,
) -> None:
    password = (pages.var / ADMIN_PASSWORD_FILE).read_text().strip()
    with httpx.Client(base_url=pages.monolith_url, timeout=30) as browser:
        form = browser.get("/admin/login/")
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
        assert csrf is not None

        signed_in = browser.post(
            "/admin/login/?next=/admin/",
            data={
                "csrfmiddlewaretoken": csrf.group(1),
                "username": ADMIN_ACCOUNT,
                "password": password,
                "next": "/admin/",
            },
        )

        assert (signed_in.status_code, signed_in.headers["Location"]) == (302, "/admin/")
        index = _check_page(browser, f"{pages.monolith_url}/admin/", _stack_hosts(pages))
        assert "Site administration" in index.text
        stylesheets = re.findall(r'<link rel="stylesheet" href="([^"]+)"', index.text)
        assert "/static/admin/css/base.css" in stylesheets
        css = browser.get("/static/admin/css/base.css")
        assert css.headers["Content-Type"].startswith("text/css")

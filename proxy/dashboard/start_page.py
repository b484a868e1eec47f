"""The start page (``GET /`` on the admin port, signed in as for the dashboard): a link to every
page of the stack. The monolith's and the services' addresses are the route table's upstreams,
as the proxy reaches them, so the page follows the table (and its ports) without settings."""

from __future__ import annotations

from html import escape
from urllib.parse import quote

from proxy.config import RouteTable

#: The monolith's upstream, which every route table has (proxy.config).
MONOLITH = "monolith"

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Strangler Fig — start page</title>
<link rel="stylesheet" href="/dashboard/dashboard.css"></head>
<body>
<header><h1>Strangler Fig</h1>
<form method="post" action="/dashboard/logout"><button type="submit">Sign out</button></form>
</header>
{sections}
</body></html>
"""


def _link(href: str, text: str, note: str = "") -> str:
    extra = f' <span class="hint">{escape(note)}</span>' if note else ""
    return f'<li><a href="{escape(href)}">{escape(text)}</a>{extra}</li>'


def _section(title: str, links: list[str]) -> str:
    return f"<section><h2>{escape(title)}</h2><ul>\n" + "\n".join(links) + "\n</ul></section>"


def start_page_html(table: RouteTable) -> str:
    admin = [
        _link("/dashboard", "Dashboard", "routes, flags, rates, mismatches"),
        _link("/metrics", "Metrics", "Prometheus"),
        _link("/health", "Health"),
        _link("/admin/routes", "Route table", "admin API"),
        _link("/admin/stats", "Per-route stats", "admin API"),
        _link("/admin/mismatches", "Stored mismatches", "admin API"),
        _link("/admin/audit", "Audit log of flag changes", "admin API"),
        _link("/admin/processes", "Processes", "admin API, when `strangler up` supervises"),
    ]
    if table.routes:
        first = table.routes[0].name
        admin.append(
            _link(f"/admin/recordings?route={quote(first)}", f"Recorded requests of {first}")
        )
    sections = [_section("The proxy's admin port (this one)", admin)]
    base = table.upstreams[MONOLITH].url.rstrip("/")  # the table requires it
    sections.append(
        _section(
            f"The monolith ({base})",
            [
                _link(f"{base}/api/schema/swagger-ui/", "API docs", "Swagger UI"),
                _link(f"{base}/api/schema/", "OpenAPI contract", "YAML"),
                _link(
                    f"{base}/admin/",
                    "Django admin",
                    "user admin, password in var/admin-password under `strangler up`",
                ),
                _link(f"{base}/metrics", "Metrics", "Prometheus: outbox backlog and lag"),
            ],
        )
    )
    for name, upstream in table.upstreams.items():
        if name == MONOLITH:
            continue
        base = upstream.url.rstrip("/")
        sections.append(
            _section(
                f"The {name} service ({base})",
                [
                    _link(f"{base}/docs", "API docs", "Swagger UI"),
                    _link(f"{base}/openapi.json", "OpenAPI", "JSON"),
                    _link(f"{base}/metrics", "Metrics", "Prometheus: sync lag, dead letters"),
                ],
            )
        )
    return _PAGE.format(sections="\n".join(sections))

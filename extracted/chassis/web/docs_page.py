"""``GET /docs``: Swagger UI over the service's own OpenAPI (``/openapi.json``), served offline.

FastAPI's default page loads Swagger UI from a CDN; here its script, stylesheet and icon come
from the service itself (``/docs/assets/``), out of the Swagger UI build that
``drf-spectacular-sidecar`` ships for the monolith's page, so both pages run the same Swagger UI
and neither needs the internet. The sidecar's folder is found without importing the package
(its ``__init__`` imports Django, which a service never loads).
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path
from typing import Final

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_PATH: Final = "/docs"
OPENAPI_PATH: Final = "/openapi.json"
ASSETS_PATH: Final = "/docs/assets"


def swagger_ui_dist() -> Path:
    """The folder of Swagger UI's built files inside the installed ``drf-spectacular-sidecar``."""
    spec = find_spec("drf_spectacular_sidecar")
    if spec is None or spec.origin is None:
        raise RuntimeError("drf-spectacular-sidecar is not installed: the docs page needs it")
    return Path(spec.origin).parent / "static" / "drf_spectacular_sidecar" / "swagger-ui-dist"


def add_docs_page(app: FastAPI) -> None:
    """The page, its assets and nothing else: the OpenAPI document itself is FastAPI's
    (``openapi_url``), and none of these routes is in it."""
    app.mount(ASSETS_PATH, StaticFiles(directory=swagger_ui_dist()), name="docs-assets")
    title = f"{app.title} — API docs"

    async def docs_page() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=OPENAPI_PATH,
            title=title,
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PATH}/favicon-32x32.png",
        )

    app.add_api_route(DOCS_PATH, docs_page, methods=["GET"], include_in_schema=False)

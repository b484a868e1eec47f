"""An unexpected error answers Django's 500 body and is logged with its traceback."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from extracted.chassis.web.server_error import ServerErrorMiddleware
from tests.extracted.asgi_client import BlockingASGIClient


def test_a_crash_is_the_contract_500(caplog: pytest.LogCaptureFixture) -> None:
    app = FastAPI()
    app.add_middleware(ServerErrorMiddleware)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("kaput")

    client = BlockingASGIClient(app)
    try:
        resp = client.get("/boom")
    finally:
        client.close()
    assert (resp.status_code, resp.json()) == (
        500,
        {"error": "server_error", "detail": "Server error."},
    )
    assert any("kaput" in (r.exc_text or "") or r.exc_info for r in caplog.records)

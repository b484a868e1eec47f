"""X-Request-Id: a sane incoming id is kept, anything else replaced; the log filter sees it."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from extracted.chassis.web.request_id import RequestIdLogFilter, RequestIdMiddleware
from extracted.chassis.web.responses import ContractJSONResponse
from tests.extracted.asgi_client import BlockingASGIClient


def make_client() -> BlockingASGIClient:
    app = FastAPI()
    app.add_middleware(RequestIdMiddleware)

    @app.get("/echo")
    def echo() -> ContractJSONResponse:
        record = logging.LogRecord("t", logging.INFO, __file__, 1, "m", None, None)
        RequestIdLogFilter().filter(record)
        return ContractJSONResponse({"logged": record.__dict__["request_id"]})

    return BlockingASGIClient(app)


def test_a_sane_id_is_kept_and_logged() -> None:
    client = make_client()
    try:
        resp = client.get("/echo", headers={"X-Request-Id": "abc-123.x:y"})
        assert resp.headers["x-request-id"] == "abc-123.x:y"
        assert resp.json() == {"logged": "abc-123.x:y"}
    finally:
        client.close()


def test_an_insane_or_missing_id_is_replaced() -> None:
    client = make_client()
    try:
        bad = client.get("/echo", headers={"X-Request-Id": "no spaces<allowed>"})
        fresh = bad.headers["x-request-id"]
        assert fresh != "no spaces<allowed>" and len(fresh) == 32
        assert bad.json() == {"logged": fresh}
        other = client.get("/echo").headers["x-request-id"]
        assert other not in (fresh, "")
    finally:
        client.close()
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "m", None, None)
    RequestIdLogFilter().filter(record)
    assert record.__dict__["request_id"] == "-"

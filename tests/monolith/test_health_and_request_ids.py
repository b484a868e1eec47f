"""Health endpoints and request ids, in process (the real server is in test_server_process)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from monolith.api import error_views
from monolith.request_ids import RequestIdLogFilter, current_request_id, request_id_from
from tests.monolith.api_client import JsonClient

pytestmark = pytest.mark.django_db

GENERATED = re.compile(r"^[0-9a-f]{32}$")


def test_live_and_ready_answer_ok(api: JsonClient) -> None:
    assert (api.get("/health/live").status, api.get("/health/live").body) == (200, {"status": "ok"})
    assert (api.get("/health/ready").status, api.get("/health/ready").body) == (
        200,
        {"status": "ok"},
    )


def test_health_paths_are_exact(api: JsonClient) -> None:
    assert api.get("/health/live/").status == 404
    assert api.post("/health/live", {}).status == 405


def test_a_sane_client_request_id_is_echoed(api: JsonClient) -> None:
    resp = api.get("/health/live", headers={"X-Request-Id": "client-42.a:b_c"})

    assert resp.headers["X-Request-Id"] == "client-42.a:b_c"


@pytest.mark.parametrize("sent", ["", "has space", "x" * 129, "semi;colon", "ünï"])
def test_an_insane_request_id_is_replaced(api: JsonClient, sent: str) -> None:
    resp = api.get("/health/live", headers={"X-Request-Id": sent})

    assert GENERATED.match(resp.headers["X-Request-Id"])


def test_every_answer_gets_an_id_even_errors(api: JsonClient) -> None:
    first = api.get("/no/such/url")
    second = api.get("/no/such/url")

    assert first.status == 404
    assert GENERATED.match(first.headers["X-Request-Id"])
    assert first.headers["X-Request-Id"] != second.headers["X-Request-Id"]


def test_request_id_from_keeps_sane_values_only() -> None:
    assert request_id_from("abc-1") == "abc-1"
    assert GENERATED.match(request_id_from(None))
    assert GENERATED.match(request_id_from("a b"))


def _record(**extra: object) -> logging.LogRecord:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "msg", None, None)
    record.__dict__.update(extra)
    return record


def test_log_filter_stamps_the_current_request_id() -> None:
    token = current_request_id.set("req-7")
    try:
        record = _record()
        assert RequestIdLogFilter().filter(record)
    finally:
        current_request_id.reset(token)

    assert record.request_id == "req-7"  # type: ignore[attr-defined]


def test_log_filter_falls_back_to_the_request_django_logs_with() -> None:
    request = RequestFactory().get("/x", HTTP_X_REQUEST_ID="late-1")

    record = _record(request=request)
    RequestIdLogFilter().filter(record)
    outside = _record()
    RequestIdLogFilter().filter(outside)

    assert record.request_id == "late-1"  # type: ignore[attr-defined]
    assert outside.request_id == "-"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("view", "status", "body"),
    [
        (error_views.bad_request, 400, {"error": "bad_request", "detail": "Bad request."}),
        (
            error_views.permission_denied,
            403,
            {
                "error": "permission_denied",
                "detail": "You do not have permission to perform this action.",
            },
        ),
        (error_views.not_found, 404, {"error": "not_found", "detail": "Not found."}),
    ],
)
def test_django_error_views_answer_with_the_contract_body(
    view: Callable[..., HttpResponse], status: int, body: dict[str, str]
) -> None:
    resp = view(RequestFactory().get("/x"), Exception("boom"))

    assert resp.status_code == status
    assert resp["Content-Type"] == "application/json"
    assert json.loads(resp.content) == body


def test_the_500_view_answers_with_the_contract_body() -> None:
    resp = error_views.server_error(RequestFactory().get("/x"))

    assert resp.status_code == 500
    assert json.loads(resp.content) == {"error": "server_error", "detail": "Server error."}


def test_a_disallowed_host_is_a_json_400(settings: Any, api: JsonClient) -> None:
    settings.ALLOWED_HOSTS = ["shop.example"]

    resp = api.get("/health/live", HTTP_HOST="evil.example")

    assert resp.status == 400
    assert resp.body == {"error": "bad_request", "detail": "Bad request."}

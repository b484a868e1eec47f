"""The orders routers' own dependencies: the app's saga runner and the call context of a request
(the session factory, the body and the caller are the chassis's: ``extracted.chassis.web.deps``)."""

from __future__ import annotations

import re
import secrets
from typing import Annotated

from fastapi import Depends
from starlette.requests import Request

from extracted.chassis.web.request_id import current_request_id
from extracted.orders.clients.upstream import CallContext
from extracted.orders.saga import SagaRunner

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-[0-9a-f]{16}-([0-9a-f]{2})$")


def get_runner(request: Request) -> SagaRunner:
    runner: SagaRunner = request.app.state.runner
    return runner


def call_context(request: Request, *, dry_run: bool = False) -> CallContext:
    """The request id and trace of this request, for the calls it makes upstream: the caller's
    W3C trace when it sent a valid ``traceparent``, else a new one."""
    match = _TRACEPARENT.match(request.headers.get("traceparent", ""))
    trace_id, flags = (match.group(1), match.group(2)) if match else (secrets.token_hex(16), "01")
    if trace_id == "0" * 32:
        trace_id = secrets.token_hex(16)
    return CallContext(
        request_id=current_request_id() or secrets.token_hex(16),
        trace_id=trace_id,
        trace_flags=flags,
        dry_run=dry_run,
    )


Runner = Annotated[SagaRunner, Depends(get_runner)]

"""``idempotent(request, principal, handler)``: run a write once per ``Idempotency-Key``.

* The key (1..255 visible ASCII characters) belongs to the calling principal: two callers never
  share a key.
* The first request inserts its record (fingerprint = sha256 of method, path and the canonical
  JSON body) and runs the handler **in the same transaction**; the answer is stored in that
  transaction too. A concurrent duplicate blocks on the unique index until the first commits
  (``INSERT ... ON CONFLICT DO NOTHING`` waits for the inserting transaction), then replays it.
* Same key, same request: the stored status and body again, with ``Idempotent-Replayed: true``;
  nothing runs a second time. Same key, another request: 422 ``idempotency_key_reused``.
* Only answers of requests that ran are kept: 2xx, 402 (a stored decline) and 409 (a refusal
  against the current state, e.g. a cancelled order). Validation and access refusals (400, 401,
  403, 404, 422) and failures (5xx) drop the record (the handler's own writes, if any, stay), so
  the client may retry with the same key.

``idempotent_in_steps`` serves a write made in steps that each commit (the orders' checkout once
a port is remote, monolith/orders/order_steps.py), which cannot run inside one transaction: the
key is claimed in a transaction of its own first, the write keeps its answer on the record when
its outcome is decided (in the transaction that decides it), and a duplicate meanwhile is told
409 ``conflict`` (still running) instead of waiting.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.http import HttpResponseBase
from django.utils import timezone
from rest_framework.exceptions import APIException
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from monolith.api.exception_handlers import contract_exception_handler
from monolith.errors import ApplicationError
from monolith.idempotency.errors import (
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
)
from monolith.idempotency.models import IdempotencyRecord
from monolith.identity.principal import Principal

REPLAYED_HEADER = "Idempotent-Replayed"
_META_KEY = "HTTP_IDEMPOTENCY_KEY"
_KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")
#: Statuses of answers kept for replay besides 2xx: the request ran and this was its outcome.
KEPT_REFUSALS = frozenset({402, 409})


def idempotency_key(request: Request) -> str | None:
    """The request's ``Idempotency-Key``, ``None`` when absent; 400 when malformed."""
    key = request.META.get(_META_KEY)
    if key is None:
        return None
    if not _KEY_RE.fullmatch(key):
        raise InvalidIdempotencyKey()
    return str(key)


def request_fingerprint(*, method: str, path: str, body: Any) -> str:
    """sha256 of the method, the path and the body as canonical JSON (keys sorted, no spaces)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{method.upper()}\n{path}\n{canonical}".encode()).hexdigest()


def is_kept(status_code: int) -> bool:
    return 200 <= status_code < 300 or status_code in KEPT_REFUSALS


def idempotent(
    request: Request, principal: Principal, handler: Callable[[], HttpResponseBase]
) -> HttpResponseBase:
    """Run ``handler`` (the view's write, returning its answer) once per key; without an
    ``Idempotency-Key`` header it simply runs. Domain and DRF errors the handler raises become
    the contract's error answer here, so the writes before them (a stored decline) commit."""
    key = idempotency_key(request)
    if key is None:
        return handler()
    method = request.method or "POST"
    fingerprint = request_fingerprint(method=method, path=request.path, body=request.data)
    with transaction.atomic():
        record = IdempotencyRecord(
            id=uuid.uuid4(),
            principal_id=principal.id,
            key=key,
            fingerprint=fingerprint,
            method=method,
            path=request.path,
            created_at=timezone.now(),
        )
        if not _claim(record):
            first = IdempotencyRecord.objects.get(principal_id=principal.id, key=key)
            return _replay(first, fingerprint)
        response = _answer(request, handler)
        claimed = IdempotencyRecord.objects.filter(id=record.id)
        if not is_kept(response.status_code) or not isinstance(response, Response):
            claimed.delete()
            return response
        claimed.update(
            status_code=response.status_code,
            response_body=JSONRenderer().render(response.data).decode(),
        )
    return response


def idempotent_in_steps(
    request: Request,
    principal: Principal,
    handler: Callable[[uuid.UUID | None], HttpResponseBase],
) -> HttpResponseBase:
    """Like ``idempotent``, for a handler whose writes commit step by step: ``handler(record
    id)`` runs after the key's record committed (``None`` without a key), and may keep its
    answer on the record itself; an answer it did not keep is kept (or the record dropped)
    here, by the rules above."""
    key = idempotency_key(request)
    if key is None:
        return handler(None)
    method = request.method or "POST"
    fingerprint = request_fingerprint(method=method, path=request.path, body=request.data)
    record = IdempotencyRecord(
        id=uuid.uuid4(),
        principal_id=principal.id,
        key=key,
        fingerprint=fingerprint,
        method=method,
        path=request.path,
        created_at=timezone.now(),
    )
    with transaction.atomic():
        claimed = _claim(record)
    if not claimed:
        first = IdempotencyRecord.objects.get(principal_id=principal.id, key=key)
        if first.fingerprint == fingerprint and first.status_code is None:
            raise IdempotencyKeyInFlight()
        return _replay(first, fingerprint)
    try:
        response = _answer(request, lambda: handler(record.id))
    except BaseException:
        IdempotencyRecord.objects.filter(id=record.id, status_code__isnull=True).delete()
        raise
    unkept = IdempotencyRecord.objects.filter(id=record.id, status_code__isnull=True)
    if not is_kept(response.status_code) or not isinstance(response, Response):
        unkept.delete()
    else:
        unkept.update(
            status_code=response.status_code,
            response_body=JSONRenderer().render(response.data).decode(),
        )
    return response


def _claim(record: IdempotencyRecord) -> bool:
    """Insert ``record`` unless its key is taken; ``True`` when inserted. On a key that a
    concurrent transaction has just inserted, PostgreSQL makes this statement wait for that
    transaction to end (``ON CONFLICT`` on the unique index): then the key is taken (it
    committed) or free (it rolled back, or dropped the record).

    One statement on the common path (``bulk_create(ignore_conflicts=True)`` cannot say whether
    it inserted, which would cost a read on every request).
    """
    meta = IdempotencyRecord._meta
    connection = transaction.get_connection()
    quote = connection.ops.quote_name
    fields = [f for f in meta.concrete_fields if f.attname not in ("status_code", "response_body")]
    values = [f.get_db_prep_save(getattr(record, f.attname), connection) for f in fields]
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))}) "
        f"ON CONFLICT ({quote('principal_id')}, {quote('key')}) DO NOTHING "
        f"RETURNING {quote('id')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        return cursor.fetchone() is not None


def _answer(request: Request, handler: Callable[[], HttpResponseBase]) -> HttpResponseBase:
    try:
        return handler()
    except (ApplicationError, APIException) as exc:
        response = contract_exception_handler(exc, {"request": request})
        assert response is not None  # both kinds always have a contract answer
        return response


def _replay(record: IdempotencyRecord, fingerprint: str) -> Response:
    if record.fingerprint != fingerprint:
        raise IdempotencyKeyReused()
    assert record.status_code is not None and record.response_body is not None
    return Response(
        json.loads(record.response_body),
        status=record.status_code,
        headers={REPLAYED_HEADER: "true"},
    )

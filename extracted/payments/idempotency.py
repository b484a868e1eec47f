"""``Idempotency-Key`` with the monolith's semantics (``monolith/idempotency/keys.py``).

* A key (1..255 visible ASCII characters) belongs to the calling principal.
* The first request inserts its record (fingerprint = sha256 of method, path and the canonical
  JSON body) and runs **in the same transaction**; its answer is stored before the commit. A
  concurrent duplicate's ``INSERT ... ON CONFLICT DO NOTHING`` waits on the unique index until
  the first commits (PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` queues writers), then replays it.
* Same key, same request: the stored status and body byte for byte, ``Idempotent-Replayed:
  true``. Same key, another request: 422 ``idempotency_key_reused``.
* Kept: 2xx, 402 and 409 (the request ran). Anything else drops the record so the client may
  retry with the same key.
* Records are honoured at least ``RETENTION`` (24 h); ``idempotency_purge`` (``python -m
  extracted.payments.purge_idempotency_keys``) deletes older ones, after which the key is free.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from starlette.requests import Request

from extracted.chassis.domain_errors import DomainError
from extracted.chassis.timefmt import utcnow
from extracted.chassis.web.errors import ApiError, ValidationFailed, refusal
from extracted.chassis.web.identity import Caller
from extracted.chassis.web.responses import ContractJSONResponse
from extracted.payments.errors import IdempotencyKeyReused
from extracted.payments.models import IdempotencyRecord

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")
#: Statuses of answers kept for replay besides 2xx: the request ran and this was its outcome.
KEPT_REFUSALS = frozenset({402, 409})
#: How long a key is honoured at least; older records may be purged (as in the monolith).
RETENTION = timedelta(hours=24)


def idempotency_key(request: Request) -> str | None:
    """The request's ``Idempotency-Key``, ``None`` when absent; the contract's 400 when
    malformed (the header's bytes as latin-1, as WSGI hands them to Django)."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not _KEY_RE.fullmatch(key):
        raise ValidationFailed({HEADER: ["Must be 1 to 255 visible ASCII characters."]})
    return key


def request_path(request: Request) -> str:
    return str(request.scope.get("root_path", "")) + str(request.scope["path"])


def request_fingerprint(*, method: str, path: str, body: Any) -> str:
    """sha256 of the method, the path and the body as canonical JSON (keys sorted, no spaces)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{method.upper()}\n{path}\n{canonical}".encode()).hexdigest()


def is_kept(status_code: int) -> bool:
    return 200 <= status_code < 300 or status_code in KEPT_REFUSALS


def _claim(session: Session, record: dict[str, Any]) -> bool:
    """Insert the record unless its key is taken; ``True`` when inserted (one statement)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(IdempotencyRecord)
        .values(**record)
        .on_conflict_do_nothing(index_elements=["principal_id", "key"])
        .returning(IdempotencyRecord.id)
    )
    return session.execute(statement).first() is not None


def idempotent(
    session: Session,
    *,
    caller: Caller,
    key: str,
    method: str,
    path: str,
    body: Any,
    handler: Callable[[], ContractJSONResponse],
) -> ContractJSONResponse:
    """Run ``handler`` (the write, in ``session``'s transaction) once per key. Its refusals
    (``DomainError``, or an ``ApiError`` of its input) become answers here, so the writes before
    them (a stored decline) commit."""
    fingerprint = request_fingerprint(method=method, path=path, body=body)
    record_id = uuid.uuid4()
    claimed = _claim(
        session,
        {
            "id": record_id,
            "principal_id": caller.id,
            "key": key,
            "fingerprint": fingerprint,
            "method": method,
            "path": path,
            "created_at": utcnow(),
        },
    )
    if not claimed:
        first = session.scalars(
            select(IdempotencyRecord).where(
                IdempotencyRecord.principal_id == caller.id, IdempotencyRecord.key == key
            )
        ).one()
        if first.fingerprint != fingerprint:
            raise IdempotencyKeyReused()
        assert first.status_code is not None and first.response_body is not None
        return ContractJSONResponse(
            json.loads(first.response_body),
            status_code=first.status_code,
            headers={REPLAYED_HEADER: "true"},
        )
    try:
        response = handler()
    except ApiError as exc:
        response = exc.response()
    except DomainError as exc:
        response = refusal(exc).response()
    mine = IdempotencyRecord.id == record_id
    if not is_kept(response.status_code):
        session.execute(delete(IdempotencyRecord).where(mine))
        return response
    session.execute(
        update(IdempotencyRecord)
        .where(mine)
        .values(status_code=response.status_code, response_body=bytes(response.body).decode())
    )
    return response


def idempotency_purge(
    session: Session, *, older_than: timedelta = RETENTION, now: datetime | None = None
) -> int:
    """Delete the records created more than ``older_than`` ago; returns how many."""
    cutoff = (now or utcnow()) - older_than
    result = session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)

"""``Idempotency-Key`` on checkout, with the monolith's semantics (docs/payments-api.md).

* The key (1..255 visible ASCII characters) belongs to the caller; the request's fingerprint is
  sha256 of method, path and the body as canonical JSON.
* The record is inserted in the transaction that starts the saga, and the answer is stored in the
  transaction that decides the checkout's outcome. A duplicate that arrives while the first is
  running waits for that answer (polling the row: the saga's steps commit one by one, so there is
  no single transaction to block on), then replays it with ``Idempotent-Replayed: true``.
* Kept: 2xx, 402 and 409. Not kept (the record is dropped, the key may be used again): 400, 403,
  422, 5xx (a 502 placed a cancelled order; a retry places a new one, as in the monolith).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import Response

from extracted.chassis.domain_errors import ConflictError, DomainError
from extracted.chassis.timefmt import utcnow
from extracted.chassis.web.errors import ValidationFailed
from extracted.chassis.web.responses import render_json
from extracted.orders.models import IdempotencyRecord

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")
KEPT_REFUSALS = frozenset({402, 409})
#: How long a duplicate waits for the first request's answer before giving up with a 409.
WAIT_S = 60.0


class KeyReused(DomainError):
    code = "idempotency_key_reused"

    def __init__(self) -> None:
        super().__init__(f"This {HEADER} was already used for a different request.")


class KeyInFlight(ConflictError):
    def __init__(self) -> None:
        super().__init__(f"A request with this {HEADER} is still running; retry later.")


class KeyTaken(Exception):
    """A concurrent request inserted the same key first."""


@dataclass(frozen=True)
class Claim:
    principal: uuid.UUID
    key: str
    fingerprint: str


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not _KEY_RE.fullmatch(key):
        raise ValidationFailed({HEADER: ["Must be 1 to 255 visible ASCII characters."]})
    return key


def request_fingerprint(*, method: str, path: str, body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{method.upper()}\n{path}\n{canonical}".encode()).hexdigest()


def is_kept(status_code: int) -> bool:
    return 200 <= status_code < 300 or status_code in KEPT_REFUSALS


def insert(session: Session, claim: Claim) -> uuid.UUID:
    """Insert the claim's record in ``session``'s transaction; ``KeyTaken`` when it exists."""
    record = IdempotencyRecord(
        id=uuid.uuid4(),
        principal=claim.principal,
        key=claim.key,
        fingerprint=claim.fingerprint,
        created_at=utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(record)
            session.flush()
    except IntegrityError:
        raise KeyTaken() from None
    return record.id


def complete(session: Session, record_id: uuid.UUID, status_code: int, body: Any) -> None:
    """Store the answer (kept statuses) or drop the record (the key is free again)."""
    if is_kept(status_code):
        session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.id == record_id)
            .values(status_code=status_code, body=render_json(body))
        )
    else:
        session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id))


def replayed(
    sessions: sessionmaker[Session], claim: Claim, *, wait_s: float = WAIT_S
) -> Response | None:
    """The stored answer for ``claim``'s key (waiting while its request runs), a 422 for another
    request under the same key, or ``None`` when no record holds the key (any more)."""
    deadline = time.monotonic() + wait_s
    while True:
        with sessions() as session:
            record = session.scalars(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.principal == claim.principal,
                    IdempotencyRecord.key == claim.key,
                )
            ).one_or_none()
        if record is None:
            return None
        if record.fingerprint != claim.fingerprint:
            raise KeyReused()
        if record.status_code is not None and record.body is not None:
            return Response(
                record.body,
                status_code=record.status_code,
                media_type="application/json",
                headers={REPLAYED_HEADER: "true"},
            )
        if time.monotonic() >= deadline:
            raise KeyInFlight()
        time.sleep(0.05)  # polling a row another process writes: no condition to wait on here

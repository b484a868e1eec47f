"""Reverse-sync events the monolith could not apply, parked with the error so the rest keep
flowing; listed and replayed through ``inbox.apply_event`` after a fix (so dedup and
compare-and-set still hold). The same rules and wire shape as the services' dead letters
(``extracted.chassis.sync.dead_letters``), so `strangler sync dead-letters --owner monolith`
reads it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from typing import Any, Final, Literal

from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone

from monolith.reverse_sync.inbox import apply_event
from monolith.reverse_sync.models import DeadLetter

#: A database away or a lock timeout: retried by the worker, never parked.
TRANSIENT_DB_ERRORS: Final = (OperationalError, InterfaceError)
MAX_ERROR_CHARS: Final = 4000
TIMESTAMP_FORMAT: Final = "%Y-%m-%dT%H:%M:%S.%fZ"


def error_text(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"[:MAX_ERROR_CHARS]


def park(envelope: Any, err: BaseException) -> int:
    """Park ``envelope`` with ``err``; the same event parked again updates its row."""
    value = envelope.get("event_id") if isinstance(envelope, dict) else None
    event_id = str(value)[:64] if value is not None else None
    now = timezone.now()
    with transaction.atomic():
        existing = None
        if event_id is not None:
            existing = DeadLetter.objects.select_for_update().filter(event_id=event_id).first()
        if existing is not None:
            existing.error = error_text(err)
            existing.attempts += 1
            existing.last_failed_at = now
            existing.save(update_fields=["error", "attempts", "last_failed_at"])
            return existing.pk
        letter = DeadLetter.objects.create(
            event_id=event_id,
            envelope=envelope,
            error=error_text(err),
            attempts=1,
            parked_at=now,
            last_failed_at=now,
        )
        return letter.pk


def _stamp(value: Any) -> str:
    return str(value.astimezone(UTC).strftime(TIMESTAMP_FORMAT))


def as_dict(letter: DeadLetter) -> dict[str, Any]:
    return {
        "id": letter.pk,
        "event_id": letter.event_id,
        "error": letter.error,
        "attempts": letter.attempts,
        "parked_at": _stamp(letter.parked_at),
        "last_failed_at": _stamp(letter.last_failed_at),
        "envelope": letter.envelope,
    }


def dead_letter_page(*, limit: int) -> tuple[int, list[dict[str, Any]]]:
    letters = DeadLetter.objects.order_by("pk")
    return letters.count(), [as_dict(letter) for letter in letters[:limit]]


@dataclass(frozen=True)
class ReplayResult:
    id: int
    event_id: str | None
    result: Literal["replayed", "failed"]
    outcome: str | None = None
    error: str | None = None


def replay(*, ids: list[int] | None) -> list[ReplayResult]:
    """Apply the letters (``ids``, or all) again, oldest first: applied ones are deleted, failed
    ones keep their row with the new error; a transient error propagates."""
    todo = DeadLetter.objects.order_by("pk")
    if ids is not None:
        todo = todo.filter(pk__in=ids)
    results: list[ReplayResult] = []
    for letter_id in list(todo.values_list("pk", flat=True)):
        letter = DeadLetter.objects.filter(pk=letter_id).first()
        if letter is None:
            continue
        try:
            outcome = apply_event(letter.envelope)
        except TRANSIENT_DB_ERRORS:
            raise
        except Exception as err:
            DeadLetter.objects.filter(pk=letter_id).update(
                error=error_text(err), attempts=letter.attempts + 1, last_failed_at=timezone.now()
            )
            results.append(
                ReplayResult(letter_id, letter.event_id, "failed", error=error_text(err))
            )
            continue
        DeadLetter.objects.filter(pk=letter_id).delete()
        results.append(ReplayResult(letter_id, letter.event_id, "replayed", outcome=outcome))
    return results

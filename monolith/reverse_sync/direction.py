"""The direction of each capability in the monolith's database (contracts.direction).

Every monolith write of a capability calls ``require_writable`` first, inside its transaction: it
takes the capability's row ``FOR SHARE`` (writers do not wait on each other) and refuses with 503
unless the direction is ``forward``. ``direction_set`` takes the row ``FOR UPDATE``, so a freeze
waits for the writes in flight to commit, and no write commits after it: once the freeze has
returned, the outbox holds every event the monolith will write for that capability. SQLite has no
row locks; there one writer runs at a time anyway.

``retired`` (the cord is cut): the monolith refuses the capability's writes as it does while
``reverse``, applies none of its events any more (``inbox``), and its tables refuse writes in
the database too (the triggers of migration ``0003_retired``). ``direction_set`` refuses (409)
any move ``contracts.direction.change_refusal`` forbids: ``retired`` is entered only from
``reverse`` and never left.
"""

from __future__ import annotations

from django.db import connection, transaction
from django.utils import timezone

from contracts.direction import Direction, DirectionView, change_refusal
from monolith.errors import ConflictError
from monolith.reverse_sync.errors import CapabilityFrozen
from monolith.reverse_sync.models import CapabilityDirection


def _locked_direction(capability: str, *, share: bool) -> str:
    table = CapabilityDirection._meta.db_table
    lock = ""
    if connection.vendor == "postgresql":
        lock = " FOR SHARE" if share else " FOR UPDATE"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT direction FROM {table} WHERE capability = %s{lock}", [capability])
        row = cursor.fetchone()
    # No row (a test database flushed after the migrations created it): the default, forward.
    return "forward" if row is None else str(row[0])


def require_writable(capability: str) -> None:
    """Refuse (503) a write of ``capability`` unless the monolith takes its writes; call it first
    inside the write's ``transaction.atomic()``."""
    direction = _locked_direction(capability, share=True)
    if direction != "forward":
        raise CapabilityFrozen(capability, direction)


def require_resumable(capability: str) -> None:
    """Refuse (503) a *resumed* write of ``capability`` (a later step of a write the monolith
    accepted before a freeze, e.g. the order stored by a checkout made in steps) only once the
    service is the source (``reverse``, ``retired``): while frozen it is taken, and the drain
    waits for it (the writes in flight in the outbox tail) before anything flips."""
    direction = _locked_direction(capability, share=True)
    if direction in ("reverse", "retired"):
        raise CapabilityFrozen(capability, direction)


def direction_get(*, capability: str) -> DirectionView:
    row, _ = CapabilityDirection.objects.get_or_create(
        capability=capability, defaults={"direction": "forward", "changed_at": timezone.now()}
    )
    return DirectionView(
        capability=row.capability,
        direction=row.direction,  # type: ignore[arg-type]  # the check constraint holds it
        changed_at=row.changed_at,
    )


def retired_capabilities(capabilities: set[str]) -> set[str]:
    """Which of ``capabilities`` are retired, their rows held ``FOR SHARE`` until the caller's
    transaction ends (the inbox: a retirement waits for the events being applied, and no event
    is applied after it)."""
    if not capabilities:
        return set()
    table = CapabilityDirection._meta.db_table
    marks = ", ".join(["%s"] * len(capabilities))
    lock = " FOR SHARE" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT capability, direction FROM {table} WHERE capability IN ({marks}){lock}",
            sorted(capabilities),
        )
        return {
            str(capability) for capability, direction in cursor.fetchall() if direction == "retired"
        }


def direction_set(*, capability: str, direction: Direction) -> DirectionView:
    """Move the direction (a freeze waits for the writes in flight: module docstring);
    ``ConflictError`` (409) for a move ``change_refusal`` forbids, nothing changed."""
    direction_get(capability=capability)  # the row exists from here on (see _locked_direction)
    with transaction.atomic():
        current = _locked_direction(capability, share=False)
        refusal = change_refusal(current, direction)
        if refusal is not None:
            raise ConflictError(f"Cannot move {capability} to {direction}: {refusal}.")
        if current != direction:
            CapabilityDirection.objects.filter(capability=capability).update(
                direction=direction, changed_at=timezone.now()
            )
    return direction_get(capability=capability)

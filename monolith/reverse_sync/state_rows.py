"""How reverse sync writes a delivered state into an aggregate's rows: compare-and-set on
``version``, inside the caller's transaction (``inbox.apply_in_transaction``). Each app's
``sync_apply`` (inventory, payments, orders) builds the row's fields and its child rows (a
reservation's lines, a payment's refunds, an order's lines) from the state and calls this.

No outbox event is recorded here (``monolith.outbox`` is not touched), so an event applied on
this side never travels back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, models, transaction


@dataclass(frozen=True)
class Children:
    """The child rows of the aggregate in the state: ``rows`` (unsaved) replace every row of
    ``model`` whose ``parent`` column holds the aggregate's key."""

    model: type[models.Model]
    parent: str
    rows: Iterable[models.Model]


def write_if_newer(
    model: type[models.Model],
    key: Any,
    version: int,
    fields: dict[str, Any],
    children: Children | None = None,
) -> bool:
    """Insert the row ``key`` with ``fields``, or overwrite it when ``version`` is newer than the
    stored one, and then its ``children``; whether it was written. The row is locked (``SELECT
    ... FOR UPDATE``) before it is compared, so two applies of one aggregate take turns; a first
    version inserted meanwhile by another apply fails only a savepoint, and is then compared
    like any stored row."""
    key_field = model._meta.pk.attname
    rows = model._default_manager.select_for_update().filter(pk=key)
    current = rows.values_list("version", flat=True).first()
    if current is None:
        try:
            with transaction.atomic():  # a savepoint: a concurrent insert fails only this
                model(**{key_field: key}, **fields).save(force_insert=True)
        except IntegrityError:
            current = rows.values_list("version", flat=True).first()
            if current is None:  # not the key: the state breaks a constraint (poison)
                raise
    if current is not None:
        if current >= version:
            return False
        rows.update(**fields)
    if children is not None:
        children.model._default_manager.filter(**{children.parent: key}).delete()
        children.model._default_manager.bulk_create(children.rows)
    return True

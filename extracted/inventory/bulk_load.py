"""The backfill's bulk path: a products page as COPY text (protocol.copy_text), applied by the
owner in one transaction with the job's checkpoint (``sync.apply_checkpointed``).

PostgreSQL: ``COPY`` the text into a temporary staging table, then one merge,
``INSERT INTO products SELECT ... FROM staging ON CONFLICT (sku) DO UPDATE ... WHERE
products.version < excluded.version`` (``extracted.chassis.bulk_merge``, which the payments and
orders backfills share). The version guard makes the backfill safe while the relay is live: a
row an event already brought to a newer version is left alone, and an event newer than the
backfilled row still applies afterwards (its CAS sees the older version). The staging table is
``ON COMMIT DELETE ROWS``, one per connection, created once.

SQLite (embedded mode): the text is decoded and goes through the JSON rows' upsert.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final

import psycopg
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from contracts.events import ProductState
from extracted.chassis.backfill_checkpoints import BatchResult
from extracted.chassis.backfill_pages import (
    newest_per_key,
    on_postgresql,
    refused_rows_as_input_error,
)
from extracted.chassis.bulk_merge import (
    AggregateMerge,
    poison_as_input_error,
    raw_cursor,
)
from extracted.inventory.sync import SyncInputError, _write_products, apply_checkpointed
from protocol.copy_text import (
    PRODUCT_COPY_COLUMNS,
    CopyTextError,
    count_rows,
    decode_rows,
    parse_timestamps,
)

#: Products have no child rows: the merge is the chassis's version-guarded INSERT.
_PRODUCTS: Final = AggregateMerge("products", PRODUCT_COPY_COLUMNS, "sku")
_COLUMNS: Final = ", ".join(PRODUCT_COPY_COLUMNS)


def _range_is_empty(cursor: psycopg.Cursor[Any], after_key: str | None, last_key: str) -> bool:
    if after_key is None:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM products WHERE sku <= %s)", (last_key,))
    else:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM products WHERE sku > %s AND sku <= %s)",
            (after_key, last_key),
        )
    row = cursor.fetchone()
    return row is not None and not row[0]


def _copy_straight_in(cursor: psycopg.Cursor[Any], page: str | bytes) -> bool:
    """COPY the page straight into ``products`` under a savepoint; False (and nothing written)
    when a row of it exists already (a live event got there first)."""
    cursor.execute("SAVEPOINT backfill_copy")
    try:
        with cursor.copy(f"COPY products ({_COLUMNS}) FROM STDIN") as copy:
            copy.write(page)
    except psycopg.errors.UniqueViolation:
        cursor.execute("ROLLBACK TO SAVEPOINT backfill_copy")
        return False
    cursor.execute("RELEASE SAVEPOINT backfill_copy")
    return True


def _copy_into_products(
    session: Session, page: str | bytes, *, after_key: str | None, last_key: str | None
) -> int:
    """Write ``page`` into products; the rows written.

    When no row of the page's key range exists yet (the usual case: a backfill into an empty
    table), the page is COPYed straight in, which costs what a raw COPY costs; a row that an
    event inserted meanwhile makes that COPY fail on the primary key, and the page takes the
    merge path instead. Otherwise: COPY into staging, then the version-guarded merge.
    """
    with poison_as_input_error("products"), raw_cursor(session) as cursor:
        if (
            last_key is not None
            and _range_is_empty(cursor, after_key, last_key)
            and _copy_straight_in(cursor, page)
        ):
            return count_rows(page)
    return _PRODUCTS.write_text(session, page)


def _states_from_text(page: str) -> list[ProductState]:
    try:
        rows: list[dict[str, Any]] = decode_rows(page, PRODUCT_COPY_COLUMNS)
        for row in rows:
            parse_timestamps(row, ("created_at", "updated_at"))
            Decimal(row["price"])  # the rows path takes the text as is; refuse it here
        return [ProductState.model_validate(row) for row in rows]
    except (CopyTextError, ValidationError, TypeError, ValueError, ArithmeticError) as exc:
        raise SyncInputError(f"invalid products page: {exc}") from None


def apply_products_copy(
    *,
    job: str,
    page: str | bytes,
    after_key: str | None,
    last_key: str | None,
    done: bool,
    restart: bool = False,
    sessions: sessionmaker[Session] | None = None,
    on_taken: Callable[[], None] | None = None,
    end_key: str | None = None,
) -> BatchResult:
    """Apply one products page in COPY text (``str``, or its UTF-8 ``bytes`` as they travel
    beside the message) if it is the job's next one (the same protocol as
    ``sync.apply_backfill_batch``, ranges included)."""
    row_count = count_rows(page)
    states: list[ProductState] | None = None

    def write(session: Session) -> int:
        nonlocal states
        if on_postgresql(session):
            return _copy_into_products(session, page, after_key=after_key, last_key=last_key)
        if states is None:
            try:
                text = page.decode() if isinstance(page, bytes) else page
            except UnicodeDecodeError as exc:
                raise SyncInputError(f"invalid products page: {exc}") from None
            states = newest_per_key(_states_from_text(text), "sku")
        return _write_products(session, states)

    # SQLite's constraint checks on the rows path.
    with refused_rows_as_input_error("products"):
        return apply_checkpointed(
            job=job,
            write=write,
            row_count=row_count,
            after_key=after_key,
            last_key=last_key,
            done=done,
            restart=restart,
            sessions=sessions,
            on_taken=on_taken,
            end_key=end_key,
        )

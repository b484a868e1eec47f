"""No false positives: the canonical row text (contracts.reconcile) is the same whether
PostgreSQL computes it in SQL or Python computes it (SQLite) from whatever form a database hands
back: decimals at any scale or as floats, timestamps at any precision, naive or in any zone, as
text with or without a fraction. And keys sort the same in PostgreSQL (``COLLATE "C"``), SQLite
(``BINARY``) and Python. Property tests against real PostgreSQL and SQLite."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.reconcile import (
    canonical_product,
    canonical_timestamp,
    pg_product_text,
    pg_row_hash,
    row_hash,
)

SKU_ALPHABET = "ABCXYZabcxyz019._-"
skus = st.text(alphabet=SKU_ALPHABET, min_size=1, max_size=12)
prices = st.decimals(min_value=0, max_value=Decimal("99999999.99"), places=2)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
zones = st.sampled_from(
    [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
)
FAST = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

_TABLE = """
CREATE TEMPORARY TABLE products (
    sku varchar(64) COLLATE "C" PRIMARY KEY, name varchar(200), price numeric(10, 2),
    on_hand integer, reserved integer, version integer,
    created_at timestamptz, updated_at timestamptz)
"""


def _sqlite_forms(price: Decimal, moment: datetime, zone: timezone) -> list[tuple[object, str]]:
    """(price, timestamp) as SQLite may hold them: Django's REAL for a NUMERIC column, decimal
    text at other scales, naive UTC text with or without a fraction, ISO text in another zone."""
    naive = moment.astimezone(UTC).replace(tzinfo=None)
    return [
        (float(price), str(naive)),  # Django: REAL, "YYYY-MM-DD HH:MM:SS[.ffffff]"
        (f"{price:f}", naive.strftime("%Y-%m-%d %H:%M:%S.%f")),  # SQLAlchemy
        (f"{price.normalize():f}", moment.astimezone(zone).isoformat()),
        (f"{price:.4f}", naive.isoformat(timespec="microseconds")),
    ]


def test_postgresql_and_python_write_the_same_canonical_text(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(_TABLE)

        @FAST
        @given(
            sku=skus,
            name=st.text(st.characters(blacklist_categories=["Cs", "Cc"]), max_size=30),
            price=prices,
            stock=st.integers(0, 2_147_483_647),
            version=st.integers(1, 2_147_483_647),
            created=moments,
            updated=moments,
            zone=zones,
        )
        def check(
            sku: str,
            name: str,
            price: Decimal,
            stock: int,
            version: int,
            created: datetime,
            updated: datetime,
            zone: timezone,
        ) -> None:
            conn.execute("TRUNCATE products")
            # Stored from another zone: PostgreSQL keeps the instant.
            conn.execute(
                "INSERT INTO products VALUES (%s, %s, %s, %s, 0, %s, %s, %s)",
                (sku, name, price, stock, version, created.astimezone(zone), updated),
            )
            text = pg_product_text()
            row = conn.execute(f"SELECT {text}, {pg_row_hash(text)} FROM products").fetchone()
            assert row is not None
            pg_text, pg_hash = row
            for stored_price, stored_created in _sqlite_forms(price, created, zone):
                python_text = canonical_product(
                    sku, name, stored_price, stock, 0, version, stored_created, updated
                )
                assert python_text == pg_text, (stored_price, stored_created)
            assert row_hash(pg_text) == pg_hash

        check()


@FAST
@given(moment=moments, zone=zones)
def test_timestamp_precision_and_zone_never_change_the_canonical_form(
    moment: datetime, zone: timezone
) -> None:
    whole = moment.replace(microsecond=0)
    forms = {
        canonical_timestamp(whole),
        canonical_timestamp(whole.astimezone(zone)),
        canonical_timestamp(str(whole.replace(tzinfo=None))),  # Django: no ".000000"
        canonical_timestamp(whole.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")),
    }
    assert len(forms) == 1


def test_keys_sort_in_byte_order_on_postgresql_sqlite_and_python(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn, sqlite3.connect(":memory:") as lite:
        conn.execute(_TABLE)
        lite.execute("CREATE TABLE products (sku TEXT PRIMARY KEY)")

        @FAST
        @given(keys=st.sets(skus, min_size=2, max_size=40))
        def check(keys: set[str]) -> None:
            conn.execute("TRUNCATE products")
            lite.execute("DELETE FROM products")
            with conn.cursor() as cursor:
                cursor.executemany("INSERT INTO products (sku) VALUES (%s)", [(k,) for k in keys])
            lite.executemany("INSERT INTO products VALUES (?)", [(k,) for k in keys])
            pg = [r[0] for r in conn.execute("SELECT sku FROM products ORDER BY sku")]
            sqlite_order = [r[0] for r in lite.execute("SELECT sku FROM products ORDER BY sku")]
            assert pg == sqlite_order == sorted(keys)
            middle = sorted(keys)[len(keys) // 2]
            below = conn.execute("SELECT count(*) FROM products WHERE sku < %s", (middle,))
            assert below.fetchone() == (len(keys) // 2,)

        check()

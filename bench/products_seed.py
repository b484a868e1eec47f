"""A million products fast, for the sync benchmarks: one server-side ``INSERT ... SELECT`` from
``generate_series`` into the monolith (``manage.py seed_inventory`` also writes an outbox event
per product, which these benchmarks do not want), and the same rows as COPY text."""

from __future__ import annotations

import psycopg

COLUMNS = "sku, name, price, on_hand, reserved, version, created_at, updated_at"

_SEED = """
INSERT INTO inventory_product (sku, name, price, on_hand, reserved, version, created_at, updated_at)
SELECT 'SKU-' || lpad(i::text, 7, '0'),
       (ARRAY['Blue','Red','Green','Black'])[1 + i %% 4] || ' product ' || i,
       round((50 + (i * 7919) %% 25000) / 100.0, 2),
       (i * 31) %% 500, 0, 1 + i %% 3,
       now() - make_interval(secs => i), now() - make_interval(secs => i / 2.0)
FROM generate_series(1::bigint, %s) AS i
"""


def seed_monolith_products(monolith_url: str, rows: int) -> str:
    """Insert ``SKU-0000001..rows`` into the monolith's (migrated, empty) database; return the
    rows as COPY text in sku order (columns ``COLUMNS``)."""
    with psycopg.connect(monolith_url, autocommit=True) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        conn.execute(_SEED, (rows,))
        conn.execute("VACUUM ANALYZE inventory_product")
        chunks: list[bytes] = []
        with conn.cursor().copy(
            f"COPY (SELECT {COLUMNS} FROM inventory_product ORDER BY sku) TO STDOUT"
        ) as copy:
            for chunk in copy:
                chunks.append(bytes(chunk))
    return b"".join(chunks).decode()


def copy_into(url: str, table: str, text: str) -> None:
    """COPY ``text`` into ``table`` in one transaction (1 MiB writes)."""
    data = text.encode()
    with psycopg.connect(url) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        with conn.cursor().copy(f"COPY {table} ({COLUMNS}) FROM STDIN") as copy:
            for offset in range(0, len(data), 1 << 20):
                copy.write(data[offset : offset + (1 << 20)])
        conn.commit()

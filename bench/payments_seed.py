"""Many payments with refunds fast, for the reconciliation benchmark: the same server-side
``INSERT ... SELECT`` from ``generate_series`` on both sides (the monolith's ``payments_payment`` /
``payments_refund``, the service's ``payments`` / ``refunds``: the columns are named alike), so
both hold identical rows without an outbox event or a sync run. Every third payment is captured
and has two refunds; timestamps carry a fraction, some of them none."""

from __future__ import annotations

import psycopg

_PAYMENTS = """
INSERT INTO {payments} (id, customer_id, order_id, amount, status, captured_amount,
                        refunded_amount, decline_reason, gateway_reference, version,
                        created_at, updated_at)
SELECT md5('p' || i)::uuid, md5('c' || i %% 1000)::uuid,
       CASE WHEN i %% 2 = 0 THEN md5('o' || i)::uuid END,
       50.00 + i %% 100, CASE WHEN i %% 3 = 0 THEN 'captured' ELSE 'authorized' END,
       CASE WHEN i %% 3 = 0 THEN 50.00 + i %% 100 ELSE 0 END,
       CASE WHEN i %% 3 = 0 THEN 15.00 ELSE 0 END,
       NULL, 'gw_' || substr(md5('g' || i), 1, 24), 1 + i %% 4,
       timestamptz '2026-01-01 00:00:00+00' + make_interval(secs => i * 1.5),
       timestamptz '2026-01-01 00:00:00+00' + make_interval(secs => i * 2.25)
FROM generate_series(1::bigint, %s) AS i
"""

_REFUNDS = """
INSERT INTO {refunds} (id, payment_id, amount, created_at)
SELECT md5('r' || i || '-' || n)::uuid, md5('p' || i)::uuid, 5.00 * n,
       timestamptz '2026-02-01 00:00:00+00' + make_interval(secs => i * 1.5 + n)
FROM generate_series(3::bigint, %s, 3) AS i, generate_series(1, 2) AS n
"""


def seed_payments(url: str, payments: str, refunds: str, rows: int) -> None:
    """Insert ``rows`` payments (and their refunds) into the migrated, empty ``payments`` and
    ``refunds`` tables of the database at ``url``."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(_PAYMENTS.format(payments=payments), (rows,))
        conn.execute(_REFUNDS.format(refunds=refunds), (rows,))
        conn.execute(f"VACUUM ANALYZE {payments}")
        conn.execute(f"VACUUM ANALYZE {refunds}")

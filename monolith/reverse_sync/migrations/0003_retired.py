"""The ``retired`` direction (contracts.direction: the cord is cut), and the database's own
refusal of every write to a retired capability's tables.

Each capability table gets a trigger that reads the capability's direction row and, when it is
``retired``, aborts the statement: so a write that bypasses the API (a shell, a script, a
forgotten cron job, the admin) is refused too, while reads keep working. The triggers exist from
this migration on and cost one primary-key read per statement (PostgreSQL: statement level) or
per row (SQLite has row triggers only); nothing changes until a capability is retired.

PostgreSQL: one ``BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ... FOR EACH STATEMENT`` trigger
per table, calling ``strangler_refuse_retired_write(capability)``. SQLite: three ``BEFORE``
triggers per table (insert, update, delete) with a ``WHEN`` on the direction row and
``RAISE(ABORT, ...)``. A later migration that rebuilds one of these tables on SQLite (Django
remakes a table to alter it there) drops its triggers and must create them again:
``tests/monolith/reverse_sync/test_retired.py`` checks every capability model's table has them.

The table list is a snapshot, as every migration is: a new capability table needs its own
migration adding the trigger (the same test fails until it has one).
"""

from __future__ import annotations

from typing import Any

from django.db import migrations, models

DIRECTION_TABLE = "reverse_sync_capabilitydirection"
#: Every table of each capability's app (``idempotency`` is shared by payments and orders and
#: holds no capability state: it stays writable).
TABLES: dict[str, tuple[str, ...]] = {
    "inventory": ("inventory_product", "inventory_reservation", "inventory_reservationline"),
    "payments": ("payments_payment", "payments_refund"),
    "orders": ("orders_order", "orders_orderline", "orders_orderprogress"),
}
MESSAGE = "the monolith's {capability} tables are read-only: {capability} is retired"

PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION strangler_refuse_retired_write() RETURNS trigger AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM {DIRECTION_TABLE}
        WHERE capability = TG_ARGV[0] AND direction = 'retired'
    ) THEN
        RAISE EXCEPTION 'the monolith''s % tables are read-only: % is retired (table %)',
            TG_ARGV[0], TG_ARGV[0], TG_TABLE_NAME
            USING ERRCODE = 'read_only_sql_transaction';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""


def _pg_trigger(table: str, capability: str) -> str:
    return (
        f"CREATE TRIGGER strangler_retired_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE "
        f"ON {table} FOR EACH STATEMENT "
        f"EXECUTE FUNCTION strangler_refuse_retired_write('{capability}');"
    )


def _sqlite_triggers(table: str, capability: str) -> list[str]:
    message = MESSAGE.format(capability=capability).replace("'", "''")
    return [
        f"CREATE TRIGGER strangler_retired_{operation.lower()}_{table} BEFORE {operation} "
        f"ON {table} WHEN EXISTS (SELECT 1 FROM {DIRECTION_TABLE} "
        f"WHERE capability = '{capability}' AND direction = 'retired') "
        f"BEGIN SELECT RAISE(ABORT, '{message}'); END;"
        for operation in ("INSERT", "UPDATE", "DELETE")
    ]


def create_triggers(apps: Any, schema_editor: Any) -> None:
    postgres = schema_editor.connection.vendor == "postgresql"
    if postgres:
        schema_editor.execute(PG_FUNCTION, params=None)  # its RAISE format holds "%"
    for capability, tables in TABLES.items():
        for table in tables:
            if postgres:
                schema_editor.execute(_pg_trigger(table, capability))
            else:
                for statement in _sqlite_triggers(table, capability):
                    schema_editor.execute(statement)


def drop_triggers(apps: Any, schema_editor: Any) -> None:
    postgres = schema_editor.connection.vendor == "postgresql"
    for tables in TABLES.values():
        for table in tables:
            if postgres:
                schema_editor.execute(f"DROP TRIGGER IF EXISTS strangler_retired_guard ON {table};")
            else:
                for operation in ("insert", "update", "delete"):
                    schema_editor.execute(
                        f"DROP TRIGGER IF EXISTS strangler_retired_{operation}_{table};"
                    )
    if postgres:
        schema_editor.execute("DROP FUNCTION IF EXISTS strangler_refuse_retired_write();")


class Migration(migrations.Migration):
    dependencies = [
        ("reverse_sync", "0002_capability_rows"),
        ("inventory", "0001_initial"),
        ("payments", "0001_initial"),
        ("orders", "0002_order_progress"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="capabilitydirection", name="capability_direction_known"
        ),
        migrations.AddConstraint(
            model_name="capabilitydirection",
            constraint=models.CheckConstraint(
                condition=models.Q(("direction__in", ("forward", "frozen", "reverse", "retired"))),
                name="capability_direction_known",
            ),
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]

"""``python -m extracted.orders.migrate``: Alembic ``upgrade head`` on the service's database.

The same function runs when the app starts (``ORDERS_MIGRATE_ON_START``, on by default).
"""

from __future__ import annotations

from pathlib import Path

from extracted.chassis.web.migrations import ServiceMigrations
from extracted.orders.config import OrdersSettings

MIGRATIONS = ServiceMigrations(
    ini=Path(__file__).resolve().parent / "alembic.ini",
    default_url=lambda: OrdersSettings().database_url,
    module="extracted.orders.migrate",
)
alembic_config = MIGRATIONS.alembic_config
upgrade = MIGRATIONS.upgrade
main = MIGRATIONS.main

if __name__ == "__main__":
    raise SystemExit(main())

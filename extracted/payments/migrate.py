"""``python -m extracted.payments.migrate``: Alembic ``upgrade head`` on the service's database.

The same function runs when the app starts (``PAYMENTS_MIGRATE_ON_START``, on by default).
"""

from __future__ import annotations

from pathlib import Path

from extracted.chassis.web.migrations import ServiceMigrations
from extracted.payments.config import PaymentsSettings

MIGRATIONS = ServiceMigrations(
    ini=Path(__file__).resolve().parent / "alembic.ini",
    default_url=lambda: PaymentsSettings().database_url,
    module="extracted.payments.migrate",
)
alembic_config = MIGRATIONS.alembic_config
upgrade = MIGRATIONS.upgrade
main = MIGRATIONS.main

if __name__ == "__main__":
    raise SystemExit(main())

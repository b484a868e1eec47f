"""``python -m extracted.payments.migrate``: Alembic ``upgrade head`` on the service's database
(``extracted.payments.wiring.MIGRATIONS``)."""

from __future__ import annotations

from extracted.payments.wiring import MIGRATIONS

alembic_config = MIGRATIONS.alembic_config
upgrade = MIGRATIONS.upgrade
main = MIGRATIONS.main

if __name__ == "__main__":
    raise SystemExit(main())

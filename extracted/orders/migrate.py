"""``python -m extracted.orders.migrate``: Alembic ``upgrade head`` on the service's database.

The same function runs when the app starts (``ORDERS_MIGRATE_ON_START``, on by default).
"""

from __future__ import annotations

import sys
from pathlib import Path

from alembic import command
from alembic.config import Config

from extracted.chassis.db import normalise_url
from extracted.orders.config import OrdersSettings

ALEMBIC_INI = Path(__file__).resolve().parent / "alembic.ini"


def alembic_config(url: str) -> Config:
    config = Config(str(ALEMBIC_INI))
    # ConfigParser interpolation: a literal "%" in a URL (an encoded password) must be doubled.
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Bring the database at ``url`` (default: the settings') to ``revision``."""
    command.upgrade(alembic_config(url or OrdersSettings().database_url), revision)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args:
        print(
            f"usage: python -m extracted.orders.migrate (got {' '.join(args)!r})",
            file=sys.stderr,
        )
        return 2
    try:
        upgrade()
    except Exception as exc:  # one line for the operator, not a traceback
        message = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        print(f"migrate failed: {type(exc).__name__}: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

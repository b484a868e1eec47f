"""Alembic for a service: ``upgrade`` to head (at start-up and as ``python -m <svc>.migrate``) and
the body of each service's ``alembic/env.py``.

Every service keeps its own ``alembic.ini``, versions and metadata; only the mechanics are here.
Alembic itself (with Mako and Pygments, some 10 MiB) is imported when a migration runs, not
with the service's wiring: its sync worker and its reverse relay never migrate.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, MetaData

from extracted.chassis.web.db import make_engine, normalise_url

if TYPE_CHECKING:
    from alembic.config import Config


@dataclass(frozen=True)
class ServiceMigrations:
    """A service's Alembic set-up: its ``alembic.ini``, its settings' database URL, its module."""

    ini: Path
    default_url: Callable[[], str]
    module: str

    def alembic_config(self, url: str) -> Config:
        from alembic.config import Config

        config = Config(str(self.ini))
        # ConfigParser interpolation: a literal "%" in a URL (an encoded password) must be doubled.
        config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
        return config

    def upgrade(self, url: str | None = None, revision: str = "head") -> None:
        """Bring the database at ``url`` (default: the settings') to ``revision``."""
        from alembic import command

        command.upgrade(self.alembic_config(url or self.default_url()), revision)

    def main(self, argv: list[str] | None = None) -> int:
        """``python -m <module>``: upgrade to head; a one-line message and non-zero on failure."""
        args = sys.argv[1:] if argv is None else argv
        if args:
            print(f"usage: python -m {self.module} (got {' '.join(args)!r})", file=sys.stderr)
            return 2
        try:
            self.upgrade()
        except Exception as exc:  # one line for the operator, not a traceback
            message = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            print(f"migrate failed: {type(exc).__name__}: {message}", file=sys.stderr)
            return 1
        return 0


def run_env(metadata: MetaData, default_url: Callable[[], str]) -> None:
    """What a service's ``alembic/env.py`` does: migrate the connection the caller handed over
    (``config.attributes["connection"]``), else the ini's URL, else the settings' URL."""
    from alembic import context

    if context.is_offline_mode():
        raise SystemExit("offline migrations are not supported; run against a database")
    config = context.config

    def run(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()

    connection = config.attributes.get("connection")
    if connection is not None:
        run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or default_url())
    try:
        with engine.connect() as conn:
            run(conn)
    finally:
        engine.dispose()

"""One cached engine + session factory per database URL (the default comes from the settings)."""

from __future__ import annotations

from functools import cache

from sqlalchemy.orm import Session, sessionmaker

from extracted.chassis.db import make_engine, make_sessions
from extracted.payments.config import PaymentsSettings


@cache
def sessions_for(url: str) -> sessionmaker[Session]:
    return make_sessions(make_engine(url))


def default_sessions() -> sessionmaker[Session]:
    """The session factory for ``PAYMENTS_DATABASE_URL`` (or the embedded SQLite file)."""
    return sessions_for(PaymentsSettings().database_url)

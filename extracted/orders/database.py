"""One cached engine + session factory per database URL."""

from __future__ import annotations

from functools import cache

from sqlalchemy.orm import Session, sessionmaker

from extracted.chassis.web.db import make_engine, make_sessions
from extracted.orders.config import OrdersSettings


@cache
def sessions_for(url: str) -> sessionmaker[Session]:
    return make_sessions(make_engine(url))


@cache
def default_sessions() -> sessionmaker[Session]:
    """The session factory for ``ORDERS_DATABASE_URL`` (or the embedded SQLite file).

    Read once per process (a process's environment does not change): building the settings
    cost more than applying a batch of events (bench/README.md, "relay_lag")."""
    return sessions_for(OrdersSettings().database_url)

"""One cached engine + session factory per database URL."""

from __future__ import annotations

from functools import cache

from sqlalchemy.orm import Session, sessionmaker

from extracted.chassis.db import make_engine, make_sessions


@cache
def sessions_for(url: str) -> sessionmaker[Session]:
    return make_sessions(make_engine(url))

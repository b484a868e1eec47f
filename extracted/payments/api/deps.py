"""Dependencies the routers share: the app's session factory."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request


def get_sessions(request: Request) -> sessionmaker[Session]:
    sessions: sessionmaker[Session] = request.app.state.sessions
    return sessions

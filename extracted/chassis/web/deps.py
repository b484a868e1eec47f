"""The FastAPI dependencies every service's routers take, declared once: the app's session factory
(``Sessions``), the request's body parsed as DRF parses it (``Body``) and who is calling
(``CurrentCaller``, the monolith's token verified: ``extracted.chassis.web.identity``).

A service's app keeps its session factory in ``app.state.sessions`` (its ``create_app``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request

from extracted.chassis.web.identity import CurrentCaller
from extracted.chassis.web.request_body import RequestBody, request_body


def get_sessions(request: Request) -> sessionmaker[Session]:
    sessions: sessionmaker[Session] = request.app.state.sessions
    return sessions


Sessions = Annotated[sessionmaker[Session], Depends(get_sessions)]
Body = Annotated[RequestBody, Depends(request_body)]

__all__ = ["Body", "CurrentCaller", "Sessions", "get_sessions"]

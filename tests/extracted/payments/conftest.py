"""Fixtures of the payments service's suite: a migrated payments database (PostgreSQL), callers
with the monolith's tokens (its key pair: ``monolith_keys`` in tests/extracted/conftest.py), and an
in-process HTTP client."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from extracted.chassis.web.db import make_engine, make_sessions
from extracted.chassis.web.identity import TokenVerifier
from extracted.payments.config import PaymentsSettings
from extracted.payments.main import create_app
from monolith.identity.keys import SigningKeys
from monolith.identity.models import User
from monolith.identity.tokens import token_issue
from tests.extracted.asgi_client import BlockingASGIClient
from tests.support.database_templates import migrated_database
from tests.support.random_refs import random_suffix


def make_account(*, is_staff: bool = False) -> User:
    """An account as the monolith's token code sees it (not saved: the service never reads it)."""
    return User(id=uuid.uuid4(), username=f"user-{random_suffix()}", is_staff=is_staff)


def bearer(user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_issue(user=user).access_token}"}


@pytest.fixture
def payments_url() -> Iterator[str]:
    """A fresh PostgreSQL database at the migrations' head (a copy of the run's template)."""
    with migrated_database("payments", "t") as url:
        yield url


@pytest.fixture
def sessions(payments_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(payments_url)
    yield make_sessions(engine)
    engine.dispose()


def build_app(
    url: str, sessions: sessionmaker[Session], verifier: TokenVerifier | None = None
) -> FastAPI:
    settings = PaymentsSettings(payments_database_url=url, migrate_on_start=False)
    return create_app(settings, sessions=sessions, verifier=verifier)


@pytest.fixture
def app(
    payments_url: str, sessions: sessionmaker[Session], token_verifier: TokenVerifier
) -> FastAPI:
    return build_app(payments_url, sessions, token_verifier)


@pytest.fixture
def client(app: FastAPI) -> Iterator[BlockingASGIClient]:
    c = BlockingASGIClient(app)
    yield c
    c.close()


@pytest.fixture
def customer(monolith_keys: SigningKeys) -> User:
    return make_account()


@pytest.fixture
def other_customer(monolith_keys: SigningKeys) -> User:
    return make_account()


@pytest.fixture
def staff(monolith_keys: SigningKeys) -> User:
    return make_account(is_staff=True)


@pytest.fixture
def as_user() -> Callable[[User], dict[str, str]]:
    """``as_user(user)``: the ``Authorization`` header of ``user``."""
    return bearer

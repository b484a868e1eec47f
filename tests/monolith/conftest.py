"""Fixtures of the monolith's suite (pytest-django on the database ``DATABASE_URL`` names)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from django.test import Client
from pytest_django.fixtures import Settings

from monolith.identity.models import User
from tests.monolith.api_client import JsonClient
from tests.monolith.factories import bearer, make_user
from tests.support.callers import staff_headers


@pytest.fixture(autouse=True)
def own_cache(settings: Settings) -> None:
    """Each test its own (in-memory) cache: the token endpoint's throttle counts of one test never
    refuse another's requests."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"test-{uuid.uuid4().hex}",
        }
    }


@pytest.fixture
def api() -> JsonClient:
    """An in-process client of the monolith that sends and reads JSON."""
    return JsonClient(Client())


@pytest.fixture
def stock_api() -> JsonClient:
    """``api`` as a stock writer: a staff token on every request, as every inventory write needs
    (the account is never saved: the monolith reads the caller from the token alone)."""
    return JsonClient(Client(), headers=staff_headers())


@pytest.fixture
def internal_api(sync_auth: dict[str, str]) -> JsonClient:
    """``api`` as the sync tooling: the sync token on every request (contracts.sync_token)."""
    return JsonClient(Client(), headers=sync_auth)


@pytest.fixture
def customer(db: None) -> User:
    return make_user()


@pytest.fixture
def other_customer(db: None) -> User:
    return make_user()


@pytest.fixture
def staff(db: None) -> User:
    return make_user(is_staff=True)


@pytest.fixture
def api_as() -> Callable[[User], JsonClient]:
    """``api_as(user)``: an in-process JSON client that sends ``user``'s bearer token."""
    return lambda user: JsonClient(Client(), headers=bearer(user))


@pytest.fixture
def customer_api(customer: User, api_as: Callable[[User], JsonClient]) -> JsonClient:
    return api_as(customer)


@pytest.fixture
def staff_api(staff: User, api_as: Callable[[User], JsonClient]) -> JsonClient:
    return api_as(staff)

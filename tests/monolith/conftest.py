"""Fixtures of the monolith's suite (pytest-django on the database ``DATABASE_URL`` names)."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.monolith.api_client import JsonClient


@pytest.fixture
def api() -> JsonClient:
    """An in-process client of the monolith that sends and reads JSON."""
    return JsonClient(Client())

"""``manage.py ensure_service_account``: a staff account with the password from the environment,
safe to run on every start (an unchanged account keeps its tokens; a new password revokes them);
a one-line refusal without the password."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from monolith.identity.models import TokenRevocation, User
from monolith.identity.revocation import token_revoked
from monolith.identity.tokens import token_issue, token_verify
from tests.support.random_refs import random_suffix

pytestmark = pytest.mark.django_db


def _ensure(username: str) -> str:
    out = StringIO()
    call_command("ensure_service_account", username, stdout=out)
    return out.getvalue().strip()


def test_creates_then_updates_a_staff_account(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"svc-{random_suffix()}"
    monkeypatch.setenv("STRANGLER_SERVICE_ACCOUNT_PASSWORD", "first")
    assert _ensure(name) == f"created {name}"
    monkeypatch.setenv("STRANGLER_SERVICE_ACCOUNT_PASSWORD", "second")
    assert _ensure(name) == f"updated {name}"
    user = User.objects.get(username=name)
    assert user.is_staff and user.check_password("second") and not user.check_password("first")


def test_refuses_without_a_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STRANGLER_SERVICE_ACCOUNT_PASSWORD", raising=False)
    with pytest.raises(CommandError, match="set STRANGLER_SERVICE_ACCOUNT_PASSWORD"):
        _ensure("svc-none")
    assert not User.objects.filter(username="svc-none").exists()


def test_running_it_again_revokes_nothing_and_a_new_password_rotates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = f"svc-{random_suffix()}"
    monkeypatch.setenv("STRANGLER_SERVICE_ACCOUNT_PASSWORD", "first")
    assert _ensure(name) == f"created {name}"
    user = User.objects.get(username=name)
    held = token_verify(token_issue(user=user).access_token)
    assert _ensure(name) == f"unchanged {name}"  # every start of the stack runs it
    assert not TokenRevocation.objects.filter(sub=user.id).exists()
    assert not token_revoked(held)
    monkeypatch.setenv("STRANGLER_SERVICE_ACCOUNT_PASSWORD", "second")
    assert _ensure(name) == f"updated {name}"
    assert token_revoked(held)

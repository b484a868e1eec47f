"""``manage.py ensure_admin_account``: the workshop's superuser, created with the password of its
file (generated, owner-only, when missing) and never changed once it exists."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from monolith.identity.models import User
from tests.support.random_refs import random_suffix

pytestmark = pytest.mark.django_db


def _ensure(username: str, password_file: Path) -> str:
    out = StringIO()
    call_command(
        "ensure_admin_account", username, "--password-file", str(password_file), stdout=out
    )
    return out.getvalue().strip()


def test_creates_a_superuser_with_a_generated_password_in_an_owner_only_file(
    tmp_path: Path,
) -> None:
    name = f"admin-{random_suffix()}"
    password_file = tmp_path / "var" / "admin-password"

    assert _ensure(name, password_file) == f"created {name}"

    password = password_file.read_text().strip()
    assert len(password) >= 20
    assert password_file.stat().st_mode & 0o777 == 0o600
    user = User.objects.get(username=name)
    assert user.is_superuser and user.is_staff and user.is_active
    assert user.check_password(password)


def test_an_existing_account_is_left_as_it_is(tmp_path: Path) -> None:
    name = f"admin-{random_suffix()}"
    password_file = tmp_path / "admin-password"
    assert _ensure(name, password_file) == f"created {name}"
    user = User.objects.get(username=name)
    user.set_password("changed-in-the-admin")
    user.save()

    assert _ensure(name, password_file) == f"unchanged {name}"

    assert User.objects.get(username=name).check_password("changed-in-the-admin")


def test_a_reset_database_gets_the_account_back_with_the_files_password(tmp_path: Path) -> None:
    name = f"admin-{random_suffix()}"
    password_file = tmp_path / "admin-password"
    password_file.write_text("kept-from-before\n")

    assert _ensure(name, password_file) == f"created {name}"

    assert User.objects.get(username=name).check_password("kept-from-before")
    assert password_file.read_text() == "kept-from-before\n"


def test_an_empty_password_file_is_refused(tmp_path: Path) -> None:
    name = f"admin-{random_suffix()}"
    password_file = tmp_path / "admin-password"
    password_file.write_text("\n")

    with pytest.raises(CommandError, match="is empty: delete it"):
        _ensure(name, password_file)
    assert not User.objects.filter(username=name).exists()

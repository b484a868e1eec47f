"""``manage.py ensure_admin_account USERNAME --password-file PATH``: the workshop's superuser, for
the Django admin (``/admin/``), created when it is missing; `strangler up` runs it on every start.

The password is the one in PATH (an owner-only file); when PATH does not exist, a new password is
generated into it first. So a reset database gets the account back with the password the file
already holds. An account that exists is left exactly as it is (its password may have been
changed in the admin since), and the command says so.
"""

from __future__ import annotations

import os
import secrets
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from monolith.identity.models import User


def password_from(path: Path) -> str:
    """The password in ``path``, written there first (owner-only) when the file does not exist."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(secrets.token_urlsafe(18) + "\n")
    password = path.read_text(encoding="utf-8").strip()
    if not password:
        raise CommandError(f"{path} is empty: delete it, or write the password in it")
    return password


class Command(BaseCommand):
    help = "Create the superuser USERNAME, with the password in --password-file, if it is missing."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--password-file",
            type=Path,
            required=True,
            help="The password's file (generated, owner-only, when it does not exist).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        username: str = options["username"]
        path: Path = options["password_file"]
        if User.objects.filter(username=username).exists():
            self.stdout.write(f"unchanged {username}")
            return
        User.objects.create_superuser(username=username, password=password_from(path))
        self.stdout.write(f"created {username}")

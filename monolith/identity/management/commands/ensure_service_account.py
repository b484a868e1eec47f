"""``manage.py ensure_service_account USERNAME``: a staff account a service calls other services
as (the orders service calls payments so), with the password in
``STRANGLER_SERVICE_ACCOUNT_PASSWORD``. Creates the account or updates it (staff, active, that
password), so a deployment can run it on every start.
"""

from __future__ import annotations

import os
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from monolith.identity.models import User

PASSWORD_VAR = "STRANGLER_SERVICE_ACCOUNT_PASSWORD"


class Command(BaseCommand):
    help = f"Create or update the staff account USERNAME with the password in {PASSWORD_VAR}."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("username")

    def handle(self, *args: Any, **options: Any) -> None:
        password = os.environ.get("STRANGLER_SERVICE_ACCOUNT_PASSWORD", "")
        if not password:
            raise CommandError(f"set {PASSWORD_VAR} to the account's password")
        user, created = User.objects.get_or_create(username=options["username"])
        user.is_staff = True
        user.is_active = True
        user.set_password(password)
        user.save()
        self.stdout.write(f"{'created' if created else 'updated'} {user.username}")

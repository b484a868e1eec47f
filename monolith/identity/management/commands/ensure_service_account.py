"""``manage.py ensure_service_account USERNAME``: a staff account a service calls other services
as (the orders service calls payments so), with the password in
``STRANGLER_SERVICE_ACCOUNT_PASSWORD``. Creates the account or updates it (staff, active, that
password), so a deployment can run it on every start: an account already so is left as it is,
since a new password or a deactivation would revoke the tokens the service holds
(``contracts.revocations``). Giving another password is a rotation: the account's earlier tokens
are revoked, and the service signs in again with the new one once restarted with it.
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
        user = User.objects.filter(username=options["username"]).first()
        created = user is None
        if user is None:
            user = User(username=options["username"])
            new_password = True
        else:
            new_password = not user.check_password(password)
            if user.is_staff and user.is_active and not new_password:
                self.stdout.write(f"unchanged {user.username}")
                return
        user.is_staff = True
        user.is_active = True
        if new_password:
            user.set_password(password)
        user.save()
        self.stdout.write(f"{'created' if created else 'updated'} {user.username}")

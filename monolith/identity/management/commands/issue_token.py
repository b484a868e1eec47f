"""``manage.py issue_token USERNAME [--create] [--staff] [--ttl-s N]``: print an access token.

For the workshop and benchmarks: a token for an account without going through a password.
``--create`` makes the account (no usable password) when it does not exist.
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from monolith.identity.models import User
from monolith.identity.tokens import token_issue


class Command(BaseCommand):
    help = "Print an access token for USERNAME (--create makes the account if missing)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--create", action="store_true", help="create the account if missing")
        parser.add_argument("--staff", action="store_true", help="a created account is staff")
        parser.add_argument("--ttl-s", type=int, default=None, help="lifetime in seconds")

    def handle(self, *args: Any, **options: Any) -> None:
        username: str = options["username"]
        ttl_s: int | None = options["ttl_s"]
        if ttl_s is not None and ttl_s < 1:
            raise CommandError(f"--ttl-s must be at least 1, got {ttl_s}")
        user = User.objects.filter(username=username).first()
        if user is None:
            if not options["create"]:
                raise CommandError(f"no account named {username!r} (add --create to make one)")
            user = User(username=username, is_staff=options["staff"])
            user.set_unusable_password()
            user.save()
        elif not user.is_active:
            raise CommandError(f"the account {username!r} is inactive")
        self.stdout.write(token_issue(user=user, ttl_s=ttl_s).access_token)

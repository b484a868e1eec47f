"""``manage.py issue_token USERNAME... [--create] [--staff] [--ttl-s N]``: print access tokens.

For the workshop, the traffic generator and benchmarks: a token for each account (one a line,
in the order given) without going through a password. ``--create`` makes the accounts (no
usable password) that do not exist. Either every token is printed or, on a refusal, nothing is
created.
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from contracts.tokens import MAX_LIFETIME_S
from monolith.identity.models import User
from monolith.identity.tokens import token_issue


class Command(BaseCommand):
    help = "Print an access token for each USERNAME (--create makes missing accounts)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("usernames", nargs="+", metavar="username")
        parser.add_argument("--create", action="store_true", help="create missing accounts")
        parser.add_argument("--staff", action="store_true", help="created accounts are staff")
        parser.add_argument("--ttl-s", type=int, default=None, help="lifetime in seconds")

    def handle(self, *args: Any, **options: Any) -> None:
        usernames: list[str] = options["usernames"]
        ttl_s: int | None = options["ttl_s"]
        if ttl_s is not None and not 1 <= ttl_s <= MAX_LIFETIME_S:
            raise CommandError(f"--ttl-s must be 1 to {MAX_LIFETIME_S}, got {ttl_s}")
        with transaction.atomic():
            existing = {u.username: u for u in User.objects.filter(username__in=usernames)}
            tokens = []
            for username in usernames:
                user = existing.get(username)
                if user is None:
                    if not options["create"]:
                        raise CommandError(
                            f"no account named {username!r} (add --create to make one)"
                        )
                    user = User(username=username, is_staff=options["staff"])
                    user.set_unusable_password()
                    user.save()
                    existing[username] = user
                elif not user.is_active:
                    raise CommandError(f"the account {username!r} is inactive")
                tokens.append(token_issue(user=user, ttl_s=ttl_s).access_token)
        self.stdout.write("\n".join(tokens))

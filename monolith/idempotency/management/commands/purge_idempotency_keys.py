"""``manage.py purge_idempotency_keys [--hours H]``."""

from __future__ import annotations

from argparse import ArgumentParser
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from monolith.idempotency.services import RETENTION, idempotency_purge


class Command(BaseCommand):
    help = "Delete idempotency records older than --hours (default 24): their keys may be reused."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--hours",
            type=float,
            default=RETENTION.total_seconds() / 3600,
            help="age in hours above which records are deleted (default 24)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        hours = options["hours"]
        if not hours >= 0:
            raise CommandError(f"--hours must be 0 or more, got {hours}")
        deleted = idempotency_purge(older_than=timedelta(hours=hours))
        self.stdout.write(f"idempotency records purged: {deleted}")

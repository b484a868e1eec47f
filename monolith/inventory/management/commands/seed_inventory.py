"""``manage.py seed_inventory --products N [--reservations M] [--seed S]``."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from monolith.inventory.seeding import seed_inventory


class Command(BaseCommand):
    help = (
        "Create products SKU-00001..N (and M reservations) from a seeded RNG, skipping what "
        "already exists; every row created records its outbox event."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--products", type=int, required=True, help="how many products")
        parser.add_argument("--reservations", type=int, default=0, help="how many reservations")
        parser.add_argument("--seed", type=int, default=0, help="RNG seed (same seed, same data)")

    def handle(self, *args: Any, **options: Any) -> None:
        products, reservations = options["products"], options["reservations"]
        if products < 0:
            raise CommandError(f"--products must be 0 or more, got {products}")
        if reservations < 0:
            raise CommandError(f"--reservations must be 0 or more, got {reservations}")
        try:
            result = seed_inventory(
                products=products, reservations=reservations, seed=options["seed"]
            )
        except DatabaseError as err:
            first_line = str(err).strip().splitlines()[0] if str(err).strip() else repr(err)
            raise CommandError(f"database error while seeding: {first_line}") from err
        self.stdout.write(
            f"products: {result.products_created} created, {result.products_skipped} existed; "
            f"reservations: {result.reservations_created} created, "
            f"{result.reservations_skipped} skipped"
        )

"""``manage.py seed_orders --orders N [--customers C] [--products P] [--seed S] [--workers W]``."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from monolith.inventory.models import Product
from monolith.orders.seeding import MissingProducts, seed_orders


class Command(BaseCommand):
    help = (
        "Create customers customer-0000001..C and N fulfilled orders (each with its captured "
        "payment, committed reservation and outbox events) over products SKU-00001..P from a "
        "seeded RNG, skipping what already exists. Run seed_inventory first."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--orders", type=int, required=True, help="how many orders")
        parser.add_argument(
            "--customers", type=int, default=None, help="how many customers (default: orders/10)"
        )
        parser.add_argument(
            "--products",
            type=int,
            default=None,
            help="draw lines from SKU-00001..P (default: every product in the catalogue)",
        )
        parser.add_argument("--seed", type=int, default=0, help="RNG seed (same seed, same data)")
        parser.add_argument(
            "--batch-size", type=int, default=5000, help="orders per transaction (default 5000)"
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=1,
            help="batches written at once, each on its own connection (PostgreSQL; default 1)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        orders = options["orders"]
        if orders < 0:
            raise CommandError(f"--orders must be 0 or more, got {orders}")
        customers = options["customers"]
        if customers is None:
            customers = max(1, orders // 10)
        if customers < 1:
            raise CommandError(f"--customers must be 1 or more, got {customers}")
        batch_size, workers = options["batch_size"], options["workers"]
        if batch_size < 1:
            raise CommandError(f"--batch-size must be 1 or more, got {batch_size}")
        if workers < 1:
            raise CommandError(f"--workers must be 1 or more, got {workers}")
        try:
            products = options["products"]
            if products is None:
                products = Product.objects.count()
            if products < 1:
                raise CommandError(
                    "no products to order: run seed_inventory --products N first"
                    if options["products"] is None
                    else f"--products must be 1 or more, got {products}"
                )
            result = seed_orders(
                count=orders,
                customers=customers,
                products=products,
                seed=options["seed"],
                batch_size=batch_size,
                workers=workers,
            )
        except MissingProducts as err:
            raise CommandError(str(err)) from err
        except DatabaseError as err:
            first_line = str(err).strip().splitlines()[0] if str(err).strip() else repr(err)
            raise CommandError(f"database error while seeding: {first_line}") from err
        self.stdout.write(
            f"customers: {result.customers_created} created, {result.customers_existed} existed; "
            f"orders: {result.orders_created} created, {result.orders_existed} existed "
            f"({result.seconds:.1f} s)"
        )

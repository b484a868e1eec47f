"""Demo data: products ``SKU-00001..N`` and some reservations, the same for the same seed.

Every value is drawn from a seeded RNG in a fixed order, whatever already exists, so product
``SKU-00042`` always gets the same name, price and stock for a given seed; rows that already exist
are skipped (``strangler up`` runs this on every start). Products are bulk-inserted in batches with
their ``product.created`` outbox events in the same transaction (one per batch), so a
benchmark's volume costs a few statements per batch rather than a few per product. Reservations
go through the services, so they lock, check and record events like any other write.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from django.db import transaction
from django.utils import timezone

from contracts import events
from monolith.inventory.errors import InsufficientStock, ProductNotFound
from monolith.inventory.models import Product, Reservation
from monolith.inventory.services import (
    reservation_commit,
    reservation_create,
    reservation_release,
)
from monolith.inventory.states import product_state
from monolith.outbox.services import NewEvent, outbox_record_many

T = TypeVar("T")

_COLOURS = ("Blue", "Red", "Green", "Black", "White", "Yellow", "Grey", "Orange", "Teal", "Plum")
_MATERIALS = ("ceramic", "steel", "oak", "glass", "cotton", "bamboo", "copper", "wool")
_THINGS = ("mug", "bowl", "lamp", "chair", "kettle", "towel", "spoon", "vase", "jar", "tray")


@dataclass(frozen=True)
class SeedResult:
    products_created: int
    products_skipped: int
    reservations_created: int
    reservations_skipped: int


@dataclass(frozen=True)
class _ProductDraft:
    sku: str
    name: str
    price: Decimal
    on_hand: int


def seed_sku(number: int) -> str:
    return f"SKU-{number:05d}"


def _product_drafts(count: int, seed: int) -> Iterator[_ProductDraft]:
    rng = random.Random(f"products:{seed}")
    for number in range(1, count + 1):
        name = f"{rng.choice(_COLOURS)} {rng.choice(_MATERIALS)} {rng.choice(_THINGS)}"
        price = Decimal(rng.randint(50, 25_000)) / 100
        on_hand = rng.randint(0, 500)
        yield _ProductDraft(seed_sku(number), name, price, on_hand)


def in_batches(drafts: Iterator[T], size: int) -> Iterator[list[T]]:
    """``drafts`` in lists of ``size`` (the last may be shorter): ``itertools.batched`` (3.12)."""
    batch: list[T] = []
    for draft in drafts:
        batch.append(draft)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def seed_products(*, count: int, seed: int = 0, batch_size: int = 2000) -> tuple[int, int]:
    """Create the missing products of ``SKU-00001..count``; return (created, skipped)."""
    created = skipped = 0
    for batch in in_batches(_product_drafts(count, seed), batch_size):
        with transaction.atomic():
            existing = set(
                Product.objects.filter(sku__in=[d.sku for d in batch]).values_list("sku", flat=True)
            )
            now = timezone.now()
            products = [
                Product(
                    sku=d.sku,
                    name=d.name,
                    price=d.price,
                    on_hand=d.on_hand,
                    reserved=0,
                    version=1,
                    created_at=now,
                    updated_at=now,
                )
                for d in batch
                if d.sku not in existing
            ]
            Product.objects.bulk_create(products, batch_size=batch_size)
            outbox_record_many(
                events=(
                    NewEvent(
                        aggregate_type="product",
                        aggregate_id=p.sku,
                        event_type=events.PRODUCT_CREATED,
                        version=1,
                        payload=product_state(p),
                        occurred_at=now,
                    )
                    for p in products
                ),
                batch_size=batch_size,
            )
        created += len(products)
        skipped += len(existing)
    return created, skipped


def seed_reservations(*, count: int, products: int, seed: int = 0) -> tuple[int, int]:
    """Create up to ``count`` reservations over ``SKU-00001..products``; some are then committed
    or released. One that exists already (same order id) or that stock cannot cover is skipped.
    Returns (created, skipped)."""
    created = skipped = 0
    for number in range(count):
        # One RNG per reservation, every value drawn before the database is asked anything: the
        # n-th reservation is the same whatever the product count or the rows already there.
        rng = random.Random(f"reservations:{seed}:{number}")
        order_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        reservation_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        lines = [
            (seed_sku(rng.randint(1, max(products, 1))), rng.randint(1, 3))
            for _ in range(rng.randint(1, 3))
        ]
        outcome = rng.choices(("pending", "committed", "released"), weights=(3, 1, 1))[0]
        if products < 1 or Reservation.objects.filter(order_id=order_id).exists():
            skipped += 1
            continue
        try:
            reservation_create(order_id=order_id, lines=lines, reservation_id=reservation_id)
        except (InsufficientStock, ProductNotFound):
            skipped += 1
            continue
        if outcome == "committed":
            reservation_commit(reservation_id=reservation_id)
        elif outcome == "released":
            reservation_release(reservation_id=reservation_id)
        created += 1
    return created, skipped


def seed_inventory(*, products: int, reservations: int = 0, seed: int = 0) -> SeedResult:
    if products < 0 or reservations < 0:
        raise ValueError("counts must be 0 or more")
    products_created, products_skipped = seed_products(count=products, seed=seed)
    reservations_created, reservations_skipped = seed_reservations(
        count=reservations, products=products, seed=seed
    )
    return SeedResult(
        products_created, products_skipped, reservations_created, reservations_skipped
    )

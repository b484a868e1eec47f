"""``manage.py seed_inventory``: deterministic rows, skips what exists, records events."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from contracts import events
from monolith.inventory.models import Product, Reservation
from monolith.outbox.models import OutboxEvent
from tests.support.processes import REPO_ROOT

pytestmark = pytest.mark.django_db


def _seed(**options: int) -> str:
    out = StringIO()
    call_command("seed_inventory", stdout=out, **options)
    return out.getvalue()


def _catalogue() -> list[tuple[str, str, str, int]]:
    return [(p.sku, p.name, str(p.price), p.on_hand) for p in Product.objects.order_by("sku")]


def test_seed_creates_numbered_products_each_with_its_created_event() -> None:
    output = _seed(products=25)

    assert output.strip() == "products: 25 created, 0 existed; reservations: 0 created, 0 skipped"
    skus = list(Product.objects.order_by("sku").values_list("sku", flat=True))
    assert skus == [f"SKU-{i:05d}" for i in range(1, 26)]
    created = OutboxEvent.objects.filter(event_type=events.PRODUCT_CREATED)
    assert sorted(created.values_list("aggregate_id", "version")) == [(s, 1) for s in skus]
    for event in created:
        product = Product.objects.get(sku=event.aggregate_id)
        assert event.payload["price"] == f"{product.price:.2f}"
        assert event.payload["on_hand"] == product.on_hand
    assert all(p.reserved == 0 and p.version == 1 for p in Product.objects.all())


def test_seed_again_skips_what_exists_and_records_nothing_new() -> None:
    _seed(products=10, reservations=4, seed=5)
    catalogue, events_before = _catalogue(), OutboxEvent.objects.count()
    reservations = sorted(Reservation.objects.values_list("order_id", flat=True))

    output = _seed(products=10, reservations=4, seed=5)

    assert output.strip() == "products: 0 created, 10 existed; reservations: 0 created, 4 skipped"
    assert _catalogue() == catalogue
    assert sorted(Reservation.objects.values_list("order_id", flat=True)) == reservations
    assert OutboxEvent.objects.count() == events_before


def test_seed_with_more_products_adds_only_the_missing_ones() -> None:
    _seed(products=10, seed=5)
    catalogue, events_before = _catalogue(), OutboxEvent.objects.count()

    output = _seed(products=12, seed=5)

    assert output.startswith("products: 2 created, 10 existed;")
    assert _catalogue()[:10] == catalogue
    assert OutboxEvent.objects.count() == events_before + 2


def test_same_seed_same_products_whatever_the_count() -> None:
    _seed(products=8, seed=11)
    first = _catalogue()
    OutboxEvent.objects.all().delete()
    Product.objects.all().delete()

    _seed(products=5, seed=11)

    assert _catalogue() == first[:5]


def test_another_seed_other_products() -> None:
    _seed(products=8, seed=1)
    first = _catalogue()
    OutboxEvent.objects.all().delete()
    Product.objects.all().delete()

    _seed(products=8, seed=2)

    assert _catalogue() != first
    assert [row[0] for row in _catalogue()] == [row[0] for row in first]


def test_seeded_reservations_go_through_the_services() -> None:
    output = _seed(products=30, reservations=12, seed=7)

    reservations = list(Reservation.objects.prefetch_related("lines"))
    assert f"reservations: {len(reservations)} created" in output
    assert len(reservations) >= 1
    for reservation in reservations:
        versions = list(
            OutboxEvent.objects.filter(aggregate_id=str(reservation.id))
            .order_by("seq")
            .values_list("version", flat=True)
        )
        assert versions == list(range(1, reservation.version + 1))
    for product in Product.objects.all():
        pending = sum(
            line.quantity
            for line in product.reservation_lines.filter(reservation__status="pending")
        )
        assert product.reserved == pending
        assert 0 <= product.reserved <= product.on_hand


def test_negative_counts_are_refused() -> None:
    with pytest.raises(CommandError, match="--products must be 0 or more"):
        _seed(products=-1)
    with pytest.raises(CommandError, match="--reservations must be 0 or more"):
        _seed(products=1, reservations=-2)
    assert not Product.objects.exists()


def test_the_command_line_refusal_is_one_line_and_a_non_zero_exit() -> None:
    done = subprocess.run(
        [sys.executable, "monolith/manage.py", "seed_inventory", "--products", "-5"],
        cwd=REPO_ROOT,
        env={**os.environ},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode != 0
    assert done.stderr.strip() == "CommandError: --products must be 0 or more, got -5"

"""The Django admin writes only through the services: products created there record their event,
stock cannot be edited, and reservations are settled through the services' actions."""

from __future__ import annotations

from typing import Any

import pytest
from django.apps import apps
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from contracts import events
from monolith.inventory.models import Product, Reservation
from monolith.outbox.models import OutboxEvent
from tests.monolith.factories import make_product, make_reservation
from tests.support.random_refs import random_sku

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(django_user_model: Any) -> Client:
    user = django_user_model.objects.create_superuser("admin", "admin@example.com", "pw-admin-1")
    client = Client()
    client.force_login(user)
    return client


def test_creating_a_product_in_the_admin_goes_through_product_create(staff: Client) -> None:
    sku = random_sku()

    resp = staff.post(
        "/admin/inventory/product/add/",
        {"sku": sku, "name": "Admin mug", "price": "4.20", "on_hand": "6", "_save": "Save"},
    )

    assert resp.status_code == 302, resp.content[:500]
    product = Product.objects.get(sku=sku)
    assert (product.name, product.on_hand, product.reserved, product.version) == (
        "Admin mug",
        6,
        0,
        1,
    )
    event = OutboxEvent.objects.get(aggregate_id=sku)
    assert (event.event_type, event.version, event.payload["price"]) == (
        events.PRODUCT_CREATED,
        1,
        "4.20",
    )


def test_an_existing_sku_is_a_form_error_and_records_nothing(staff: Client) -> None:
    product = make_product()
    before = OutboxEvent.objects.count()

    resp = staff.post(
        "/admin/inventory/product/add/",
        {"sku": product.sku, "name": "Dup", "price": "1.00", "on_hand": "1", "_save": "Save"},
    )

    assert resp.status_code == 200
    assert b"already exists" in resp.content
    assert OutboxEvent.objects.count() == before


def test_products_are_view_only_in_the_admin(staff: Client) -> None:
    product = make_product(on_hand=3)
    path = f"/admin/inventory/product/{product.sku}/change/"

    view = staff.get(path)
    edit = staff.post(path, {"sku": product.sku, "name": "X", "price": "1", "on_hand": "999"})

    assert view.status_code == 200
    assert edit.status_code == 403
    assert Product.objects.get(sku=product.sku).on_hand == 3


def test_the_commit_action_settles_pending_reservations_through_the_service(staff: Client) -> None:
    product = make_product(on_hand=5)
    pending = make_reservation([(product.sku, 2)])
    released = make_reservation([(product.sku, 1)])
    staff.post(
        "/admin/inventory/reservation/",
        {"action": "release_selected", "_selected_action": [str(released.id)]},
    )

    resp = staff.post(
        "/admin/inventory/reservation/",
        {"action": "commit_selected", "_selected_action": [str(pending.id), str(released.id)]},
    )

    assert resp.status_code == 302
    assert Reservation.objects.get(id=pending.id).status == "committed"
    assert Reservation.objects.get(id=released.id).status == "released"
    row = Product.objects.get(sku=product.sku)
    assert (row.on_hand, row.reserved) == (3, 0)
    assert OutboxEvent.objects.filter(
        aggregate_id=str(pending.id), event_type=events.RESERVATION_COMMITTED, version=2
    ).exists()


def test_the_outbox_is_listed_read_only(staff: Client) -> None:
    make_product()

    listing = staff.get("/admin/outbox/outboxevent/?published=no")
    add = staff.get("/admin/outbox/outboxevent/add/")

    assert listing.status_code == 200
    assert events.PRODUCT_CREATED.encode() in listing.content
    assert add.status_code == 403


def _our_models() -> list[type[Any]]:
    return [
        model
        for config in apps.get_app_configs()
        if config.name.startswith("monolith.")
        for model in config.get_models()
    ]


def test_every_model_is_in_the_admin_on_its_own_or_inline() -> None:
    reverse("admin:index")  # the admin registers the models with the URLconf that serves it
    inlined = {
        inline.model
        for model_admin in admin.site._registry.values()
        for inline in model_admin.inlines
    }
    missing = [
        model._meta.label
        for model in _our_models()
        if model not in admin.site._registry and model not in inlined
    ]
    assert not missing, f"models without an admin: {missing}"


def test_every_registered_changelist_and_add_page_renders(admin_client: Client) -> None:
    make_reservation([(make_product(on_hand=5).sku, 1)])
    reverse("admin:index")  # the admin registers the models with the URLconf that serves it
    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        changelist = admin_client.get(f"/admin/{meta.app_label}/{meta.model_name}/")
        assert changelist.status_code == 200, meta.label
        if model_admin.has_add_permission(changelist.wsgi_request):
            added = admin_client.get(f"/admin/{meta.app_label}/{meta.model_name}/add/")
            assert added.status_code == 200, meta.label

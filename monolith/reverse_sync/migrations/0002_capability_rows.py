"""One ``forward`` direction row per capability: the monolith takes every write until a switch."""

from __future__ import annotations

from typing import Any

from django.db import migrations
from django.utils import timezone

CAPABILITIES = ("inventory", "payments", "orders")


def create_rows(apps: Any, schema_editor: Any) -> None:
    direction = apps.get_model("reverse_sync", "CapabilityDirection")
    for capability in CAPABILITIES:
        direction.objects.get_or_create(
            capability=capability,
            defaults={"direction": "forward", "changed_at": timezone.now()},
        )


def remove_rows(apps: Any, schema_editor: Any) -> None:
    apps.get_model("reverse_sync", "CapabilityDirection").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("reverse_sync", "0001_initial")]

    operations = [migrations.RunPython(create_rows, remove_rows)]

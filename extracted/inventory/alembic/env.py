"""Alembic environment: the URL comes from the caller (``migrate.upgrade``) or the settings."""

from __future__ import annotations

from extracted.chassis.web.migrations import run_env
from extracted.inventory.config import InventorySettings
from extracted.inventory.models import Base

run_env(Base.metadata, lambda: InventorySettings().database_url)

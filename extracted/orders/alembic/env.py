"""Alembic environment: the URL comes from the caller (``migrate.upgrade``) or the settings."""

from __future__ import annotations

from extracted.chassis.web.migrations import run_env
from extracted.orders.config import OrdersSettings
from extracted.orders.models import Base

run_env(Base.metadata, lambda: OrdersSettings().database_url)

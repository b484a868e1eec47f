"""Alembic environment: the URL comes from the caller (``migrate.upgrade``) or the settings."""

from __future__ import annotations

from extracted.chassis.web.migrations import run_env
from extracted.payments.config import PaymentsSettings
from extracted.payments.models import Base

run_env(Base.metadata, lambda: PaymentsSettings().database_url)

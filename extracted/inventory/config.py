"""The inventory service's settings (environment only; embedded-mode defaults)."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from extracted.chassis.web.identity_settings import IdentitySettings


class InventorySettings(IdentitySettings):
    inventory_database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("INVENTORY_DATABASE_URL")
    )
    #: Run the Alembic migrations to head when the app starts (as in dev and the embedded mode).
    migrate_on_start: bool = Field(
        default=True, validation_alias=AliasChoices("INVENTORY_MIGRATE_ON_START")
    )

    @property
    def database_url(self) -> str:
        return self.inventory_database_url or self.sqlite_url("inventory.sqlite3")

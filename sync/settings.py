"""Settings of the sync processes and the `strangler sync` CLI: environment only.

Defaults are the embedded mode (docs/components.md "Settings"): no ``CELERY_BROKER_URL`` means the
kombu ``filesystem://`` transport under ``$STRANGLER_VAR_DIR/broker``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.events import Capability


class SyncSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    var_dir: Path = Field(default=Path("var"), validation_alias=AliasChoices("STRANGLER_VAR_DIR"))
    broker_url: str | None = Field(default=None, validation_alias=AliasChoices("CELERY_BROKER_URL"))
    # Queue names end up in file names (filesystem transport) and Redis keys: keep them plain.
    queue_prefix: str = Field(
        default="",
        pattern=r"^[A-Za-z0-9_-]{0,40}$",
        validation_alias=AliasChoices("STRANGLER_QUEUE_PREFIX"),
    )
    #: How long Redis waits for an ack before handing a message out again (sync.celery_app).
    #: Only lower it where workers are killed on purpose and redelivery must come soon (the
    #: fault test); it must stay above the longest retry countdown, which make_celery checks.
    visibility_timeout_s: int = Field(
        default=3600,
        ge=1,
        validation_alias=AliasChoices("STRANGLER_BROKER_VISIBILITY_TIMEOUT_S"),
    )
    monolith_url: str = Field(
        default="http://127.0.0.1:8000", validation_alias=AliasChoices("STRANGLER_MONOLITH_URL")
    )
    inventory_url: str = Field(
        default="http://127.0.0.1:8101", validation_alias=AliasChoices("STRANGLER_INVENTORY_URL")
    )

    payments_url: str = Field(
        default="http://127.0.0.1:8102", validation_alias=AliasChoices("STRANGLER_PAYMENTS_URL")
    )
    orders_url: str = Field(
        default="http://127.0.0.1:8103", validation_alias=AliasChoices("STRANGLER_ORDERS_URL")
    )

    def service_url(self, capability: Capability) -> str:
        """The base URL of the service that owns ``capability`` (its subscriber's endpoints)."""
        urls: dict[Capability, str] = {
            "inventory": self.inventory_url,
            "payments": self.payments_url,
            "orders": self.orders_url,
        }
        return urls[capability]

    @property
    def var(self) -> Path:
        return self.var_dir.resolve()

    @property
    def broker_dir(self) -> Path:
        """Where the embedded filesystem transport keeps its queues."""
        return self.var / "broker"

    @property
    def embedded_broker(self) -> bool:
        return not self.broker_url or self.broker_url.startswith("filesystem:")

"""The orders service's settings (environment only; embedded-mode defaults)."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from extracted.chassis.web.settings import ServiceSettings


class OrdersSettings(ServiceSettings):
    orders_database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("ORDERS_DATABASE_URL")
    )
    #: Run the Alembic migrations to head when the app starts (as in dev and the embedded mode).
    migrate_on_start: bool = Field(
        default=True, validation_alias=AliasChoices("ORDERS_MIGRATE_ON_START")
    )

    #: The façade: the proxy's public port. The saga reserves and pays through it, so its
    #: route table (mode, canary share, fallback, breaker, the direction switch's freeze, hot
    #: reload) decides which owner takes each call, as it does for every client: a flag flip
    #: moves the saga's calls too, with no restart (docs/architecture.md, "Internal calls").
    facade_url: str = Field(
        default="http://127.0.0.1:8080", validation_alias=AliasChoices("STRANGLER_FACADE_URL")
    )
    #: Overrides for a deployment whose mesh routes service-to-service calls itself: then the
    #: mesh, not the proxy's table, must follow each capability's direction.
    inventory_url: str | None = Field(
        default=None, validation_alias=AliasChoices("ORDERS_INVENTORY_URL")
    )
    payments_url: str | None = Field(
        default=None, validation_alias=AliasChoices("ORDERS_PAYMENTS_URL")
    )
    #: The service account the saga calls payments as (clients/service_token.py): a fixed token,
    #: or a username + password exchanged at ``token_url`` (the monolith's /api/auth/token/).
    service_token: str | None = Field(
        default=None, validation_alias=AliasChoices("ORDERS_SERVICE_TOKEN")
    )
    service_username: str | None = Field(
        default=None, validation_alias=AliasChoices("ORDERS_SERVICE_USERNAME")
    )
    service_password: str | None = Field(
        default=None, validation_alias=AliasChoices("ORDERS_SERVICE_PASSWORD")
    )
    token_url: str = Field(
        default="http://127.0.0.1:8000/api/auth/token/",
        validation_alias=AliasChoices("ORDERS_TOKEN_URL"),
    )

    # Resilience of every upstream call (clients/).
    connect_timeout_s: float = Field(
        default=1.0, validation_alias=AliasChoices("ORDERS_CONNECT_TIMEOUT_S")
    )
    #: Read timeout: above the fake gateway's slowest answer (``tok_slow_<ms>`` caps at 10 s).
    read_timeout_s: float = Field(
        default=12.0, validation_alias=AliasChoices("ORDERS_READ_TIMEOUT_S")
    )
    retry_attempts: int = Field(
        default=3, ge=1, validation_alias=AliasChoices("ORDERS_RETRY_ATTEMPTS")
    )
    breaker_failures: int = Field(
        default=5, ge=1, validation_alias=AliasChoices("ORDERS_BREAKER_FAILURES")
    )
    breaker_reset_s: float = Field(
        default=5.0, validation_alias=AliasChoices("ORDERS_BREAKER_RESET_S")
    )

    # The saga's recovery loop (recovery.py).
    recovery_interval_s: float = Field(
        default=1.0, validation_alias=AliasChoices("ORDERS_RECOVERY_INTERVAL_S")
    )
    #: How long a runner owns a saga before another (the recovery loop) may take it over.
    saga_lease_s: float = Field(default=60.0, validation_alias=AliasChoices("ORDERS_SAGA_LEASE_S"))
    #: Failed compensation attempts after which a saga is listed as stuck (it is still retried).
    stuck_after_attempts: int = Field(
        default=5, ge=1, validation_alias=AliasChoices("ORDERS_STUCK_AFTER_ATTEMPTS")
    )
    #: Longest pause between two attempts of a failing compensation.
    retry_max_backoff_s: float = Field(
        default=30.0, validation_alias=AliasChoices("ORDERS_RETRY_MAX_BACKOFF_S")
    )
    #: TEST ONLY (crash.py): SIGKILL this process at the named saga point.
    crash_at: str | None = Field(default=None, validation_alias=AliasChoices("ORDERS_CRASH_AT"))

    def upstream_url(self, capability: str) -> str:
        """Where the saga calls ``capability`` (inventory, payments): the façade, unless
        overridden."""
        override = {"inventory": self.inventory_url, "payments": self.payments_url}[capability]
        return override or self.facade_url

    @property
    def database_url(self) -> str:
        return self.orders_database_url or self.sqlite_url("orders.sqlite3")

"""Where the walker finds everything: URLs, the admin token, the route file, the state file.

All from the environment (docs/components.md), with the embedded-mode defaults.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.events import Capability


class WalkerSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    var_dir: Path = Field(default=Path("var"), validation_alias="STRANGLER_VAR_DIR")
    monolith_url: str = Field(
        default="http://127.0.0.1:8000", validation_alias="STRANGLER_MONOLITH_URL"
    )
    inventory_url: str = Field(
        default="http://127.0.0.1:8101", validation_alias="STRANGLER_INVENTORY_URL"
    )
    payments_url: str = Field(
        default="http://127.0.0.1:8102", validation_alias="STRANGLER_PAYMENTS_URL"
    )
    orders_url: str = Field(
        default="http://127.0.0.1:8103", validation_alias="STRANGLER_ORDERS_URL"
    )
    proxy_admin_url: str = Field(
        default="http://127.0.0.1:8081", validation_alias="STRANGLER_PROXY_ADMIN_URL"
    )
    admin_token: str | None = Field(default=None, validation_alias="PROXY_ADMIN_TOKEN")
    routes_file_setting: Path | None = Field(default=None, validation_alias="PROXY_ROUTES_FILE")
    plan_file: Path | None = Field(
        default=None, validation_alias=AliasChoices("STRANGLER_PLAN_FILE", "plan_file")
    )
    #: Seconds each gate's HTTP call may take before the gate fails as unreachable.
    http_timeout_s: float = Field(default=5.0, validation_alias="STRANGLER_PLAN_HTTP_TIMEOUT")

    def service_url(self, capability: Capability) -> str:
        """The base URL of the service that owns ``capability``."""
        urls: dict[Capability, str] = {
            "inventory": self.inventory_url,
            "payments": self.payments_url,
            "orders": self.orders_url,
        }
        return urls[capability]

    @property
    def routes_file(self) -> Path:
        return self.routes_file_setting or self.var_dir / "routes.yaml"

    @property
    def state_file(self) -> Path:
        return self.var_dir / "plan-state.json"

    def token(self) -> str | None:
        """``PROXY_ADMIN_TOKEN``, else the one the proxy generated into ``$VAR/admin-token``."""
        if self.admin_token:
            return self.admin_token.strip()
        try:
            return (self.var_dir / "admin-token").read_text(encoding="utf-8").strip() or None
        except OSError:
            return None

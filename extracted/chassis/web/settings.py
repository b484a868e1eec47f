"""The settings base every service extends: environment only, embedded-mode defaults."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Common to every service: where the embedded mode keeps its files."""

    # populate_by_name: code (tests, tools) may also give a setting by its field name.
    model_config = SettingsConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    var_dir: Path = Field(default=Path("var"), validation_alias=AliasChoices("STRANGLER_VAR_DIR"))
    #: The Host names the service answers to, as the monolith's ``ALLOWED_HOSTS`` (one setting
    #: for the stack, Django's rules): another Host gets the contract's 400.
    allowed_hosts: str = Field(
        default="localhost,127.0.0.1,[::1]",
        validation_alias=AliasChoices("STRANGLER_ALLOWED_HOSTS"),
    )
    #: Where clients reach the API (the proxy): absolute links are built on it when set.
    public_origin: str = Field(default="", validation_alias=AliasChoices("STRANGLER_PUBLIC_ORIGIN"))

    @property
    def var(self) -> Path:
        return self.var_dir.resolve()

    @field_validator("public_origin")
    @classmethod
    def _origin(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("STRANGLER_PUBLIC_ORIGIN must look like http(s)://host[:port]")
        return value

    @property
    def host_patterns(self) -> tuple[str, ...]:
        return tuple(h.strip().lower() for h in self.allowed_hosts.split(",") if h.strip())

    def sqlite_url(self, filename: str) -> str:
        """The embedded-mode database URL of a file in the var folder."""
        return f"sqlite:///{self.var / filename}"

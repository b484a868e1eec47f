"""The settings base every service extends: environment only, embedded-mode defaults."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Common to every service: where the embedded mode keeps its files."""

    # populate_by_name: code (tests, tools) may also give a setting by its field name.
    model_config = SettingsConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    var_dir: Path = Field(default=Path("var"), validation_alias=AliasChoices("STRANGLER_VAR_DIR"))

    @property
    def var(self) -> Path:
        return self.var_dir.resolve()

    def sqlite_url(self, filename: str) -> str:
        """The embedded-mode database URL of a file in the var folder."""
        return f"sqlite:///{self.var / filename}"

"""The identity settings every service extends: where the public key and the revocation list
come from (``extracted.chassis.web.identity`` verifies with them).

Apart from the verifier, so that what only reads a service's settings (its sync worker, its
reverse relay, its migrations) loads no JWT, cryptography, HTTP client or FastAPI: they are
imported when a verifier is built, in the service itself.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import SettingsConfigDict

from contracts.revocations import DEFAULT_REFRESH_S, REVOCATIONS_PATH
from extracted.chassis.web.settings import ServiceSettings

if TYPE_CHECKING:
    from extracted.chassis.web.identity import TokenVerifier
    from extracted.chassis.web.revocations import RevocationList

logger = logging.getLogger(__name__)


class IdentitySettings(ServiceSettings):
    """Where the public key comes from: the JWKS URL when set, else the PEM file."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    jwt_public_key_file: Path | None = Field(
        default=None, validation_alias=AliasChoices("STRANGLER_JWT_PUBLIC_KEY_FILE")
    )
    jwks_url: str | None = Field(default=None, validation_alias=AliasChoices("STRANGLER_JWKS_URL"))
    #: The monolith's revocation list (``http://host:port/internal/identity/revocations``).
    revocations_url: str | None = Field(
        default=None, validation_alias=AliasChoices("STRANGLER_REVOCATIONS_URL")
    )
    revocations_refresh_s: float = Field(
        default=DEFAULT_REFRESH_S,
        validation_alias=AliasChoices("STRANGLER_REVOCATIONS_REFRESH_S"),
        gt=0,
        le=300,
    )

    @field_validator("revocations_url")
    @classmethod
    def _revocations_url(cls, value: str | None) -> str | None:
        value = (value or "").strip() or None
        if value is not None and not (
            value.startswith(("http://", "https://")) and value.endswith(REVOCATIONS_PATH)
        ):
            raise ValueError(
                f"STRANGLER_REVOCATIONS_URL must look like http(s)://host[:port]{REVOCATIONS_PATH}"
            )
        return value

    @property
    def public_key_file(self) -> Path:
        return self.jwt_public_key_file or self.var / "keys" / "jwt-public.pem"

    def revocation_list(self) -> RevocationList | None:
        if self.revocations_url is None:
            logger.warning(
                "no STRANGLER_REVOCATIONS_URL: revoked tokens work here until they expire"
            )
            return None
        from extracted.chassis.web.revocations import RevocationList

        return RevocationList(self.revocations_url, refresh_s=self.revocations_refresh_s)

    def verifier(self) -> TokenVerifier:
        from extracted.chassis.web.identity import (
            JwksKeySource,
            PemKeySource,
            PublicKeySource,
            TokenVerifier,
        )

        keys: PublicKeySource = (
            JwksKeySource(self.jwks_url) if self.jwks_url else PemKeySource(self.public_key_file)
        )
        return TokenVerifier(keys, self.revocation_list())

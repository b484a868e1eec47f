"""The access token every component reads: a JWT the monolith signs with its private key and
every service verifies with the public key alone (EdDSA over Ed25519).

Claims: ``sub`` (the account's UUID: a customer's id is the ``customer_id`` of their orders and
payments), ``username``, ``staff`` (sees and acts on everything), ``iss``, ``aud``, ``iat``,
``exp``, ``jti``. The token header carries ``kid`` (RFC 7638 thumbprint of the public key:
``key_id``), and a verifier takes only a token whose ``kid`` names a key it was given.

Claims are typed strictly (``TokenClaims``): ``exp``/``iat`` are integers (never a string or a
boolean), ``staff`` is a JSON boolean (``"yes"`` is refused, not read as true), ``sub`` is a UUID
given as a string, the rest strings. A token lives at most ``MAX_LIFETIME_S`` (``exp - iat``):
the signer refuses to issue a longer one, every verifier refuses to accept one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from typing import Annotated, Any, Final

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StrictBool,
    StrictInt,
    StrictStr,
    model_validator,
)

ALGORITHM = "EdDSA"
ISSUER = "strangler-monolith"
AUDIENCE = "strangler"
#: Clock skew tolerated on ``exp``/``iat`` between the signer and a verifier, in seconds.
LEEWAY_S = 10
#: The one body of every refused token (missing, malformed, expired, wrongly signed, ``alg=none``,
#: tampered): a client learns nothing about why.
UNAUTHENTICATED_BODY = {
    "error": "not_authenticated",
    "detail": "Authentication credentials were not provided or are not valid.",
}
WWW_AUTHENTICATE = 'Bearer realm="strangler"'
#: Registered claims every token must carry (PyJWT's ``require``).
REQUIRED_CLAIMS: Final = ("sub", "iss", "aud", "iat", "exp", "jti")
#: The longest a token may live (``exp - iat``), a service account's included (they renew).
MAX_LIFETIME_S: Final = 24 * 3600


def key_id(raw_public_key: bytes) -> str:
    """RFC 7638 thumbprint of an Ed25519 public key (its 32 raw bytes): the ``kid``."""
    x = base64.urlsafe_b64encode(raw_public_key).rstrip(b"=").decode("ascii")
    members = {"crv": "Ed25519", "kty": "OKP", "x": x}
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _uuid_text(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("sub must be a UUID string")
    return value


#: An account's id as tokens and the revocation list carry it: a UUID given as a JSON string.
SubjectId = Annotated[uuid.UUID, BeforeValidator(_uuid_text)]


class TokenClaims(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    sub: SubjectId
    username: StrictStr
    staff: StrictBool
    iss: StrictStr
    aud: StrictStr
    iat: StrictInt
    exp: StrictInt
    jti: StrictStr

    @model_validator(mode="after")
    def _bounded_lifetime(self) -> TokenClaims:
        if not 0 < self.exp - self.iat <= MAX_LIFETIME_S:
            raise ValueError(f"lifetime {self.exp - self.iat} s outside (0, {MAX_LIFETIME_S}]")
        return self

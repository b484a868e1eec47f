"""The access token every component reads: a JWT the monolith signs with its private key and
every service verifies with the public key alone (EdDSA over Ed25519).

Claims: ``sub`` (the account's UUID: a customer's id is the ``customer_id`` of their orders and
payments), ``username``, ``staff`` (sees and acts on everything), ``iss``, ``aud``, ``iat``,
``exp``, ``jti``. The token header carries ``kid`` (RFC 7638 thumbprint of the public key).
"""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict

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


class TokenClaims(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    sub: uuid.UUID
    username: str
    staff: bool
    iss: str
    aud: str
    iat: int
    exp: int
    jti: str

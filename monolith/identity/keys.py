"""The monolith's signing key pair (Ed25519), read from PEM files.

Only the monolith holds the private key; the public key file (or ``GET /api/auth/jwks/``) is what
services get. In the embedded mode the pair is generated on first use under ``$VAR/keys``; in real
mode both paths are set to mounted secrets. Generation is race-safe: each file is written to a
temporary name and hard-linked into place, so concurrent workers agree on one pair.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from contracts.tokens import key_id


@dataclass(frozen=True)
class SigningKeys:
    private: Ed25519PrivateKey
    public: Ed25519PublicKey
    kid: str  # RFC 7638 thumbprint of the public key

    def public_jwk(self) -> dict[str, str]:
        return {**_okp_members(self.public), "kid": self.kid, "alg": "EdDSA", "use": "sig"}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _okp_members(public: Ed25519PublicKey) -> dict[str, str]:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"crv": "Ed25519", "kty": "OKP", "x": _b64url(raw)}


def thumbprint(public: Ed25519PublicKey) -> str:
    """RFC 7638: SHA-256 of the required members, sorted, without whitespace (the ``kid``)."""
    return key_id(public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def _publish(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with ``data`` unless it exists (then keep what is there)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        os.unlink(tmp)


def _public_pem(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@functools.lru_cache(maxsize=4)
def _load(private_path: Path, public_path: Path) -> SigningKeys:
    if not private_path.exists():
        generated = Ed25519PrivateKey.generate()
        pem = generated.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _publish(private_path, pem, 0o600)
    private = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
    if not isinstance(private, Ed25519PrivateKey):
        raise ImproperlyConfigured(f"{private_path} does not hold an Ed25519 private key")
    public = private.public_key()
    if not public_path.exists():
        _publish(public_path, _public_pem(public), 0o644)
    if public_path.read_bytes() != _public_pem(public):
        raise ImproperlyConfigured(
            f"{public_path} is not the public key of {private_path}; fix or remove it"
        )
    return SigningKeys(private=private, public=public, kid=thumbprint(public))


def signing_keys() -> SigningKeys:
    """The configured pair (``settings.JWT_PRIVATE_KEY_FILE`` / ``JWT_PUBLIC_KEY_FILE``)."""
    return _load(Path(settings.JWT_PRIVATE_KEY_FILE), Path(settings.JWT_PUBLIC_KEY_FILE))

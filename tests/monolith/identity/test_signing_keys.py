"""The key files: generated once, shared by concurrent workers, and checked against each other."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.exceptions import ImproperlyConfigured

from monolith.identity import keys


def _fresh_load(private: Path, public: Path) -> keys.SigningKeys:
    keys._load.cache_clear()
    return keys._load(private, public)


def test_missing_files_are_generated_with_a_private_mode(tmp_path: Path) -> None:
    private, public = tmp_path / "k" / "private.pem", tmp_path / "k" / "public.pem"
    loaded = _fresh_load(private, public)
    assert private.stat().st_mode & 0o777 == 0o600
    assert b"PRIVATE" not in public.read_bytes()
    assert _fresh_load(private, public).kid == loaded.kid  # read back, not regenerated


def test_concurrent_first_use_agrees_on_one_pair(tmp_path: Path) -> None:
    private, public = tmp_path / "private.pem", tmp_path / "public.pem"

    def load(_: int) -> str:
        return keys._load.__wrapped__(private, public).kid

    with ThreadPoolExecutor(8) as pool:
        kids = set(pool.map(load, range(16)))
    assert len(kids) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["private.pem", "public.pem"]


def test_a_public_key_of_another_pair_is_refused(tmp_path: Path) -> None:
    private, public = tmp_path / "private.pem", tmp_path / "public.pem"
    _fresh_load(private, public)
    other = tmp_path / "other"
    _fresh_load(other / "private.pem", other / "public.pem")
    public.write_bytes((other / "public.pem").read_bytes())
    with pytest.raises(ImproperlyConfigured, match="is not the public key"):
        _fresh_load(private, public)


def test_a_key_of_another_type_is_refused(tmp_path: Path) -> None:
    private = tmp_path / "private.pem"
    private.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(ImproperlyConfigured, match="Ed25519"):
        _fresh_load(private, tmp_path / "public.pem")

"""The contract's timestamp format: UTC, microseconds, ``Z`` (DRF ``%Y-%m-%dT%H:%M:%S.%fZ``)."""

from __future__ import annotations

from datetime import UTC, datetime

CONTRACT_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Aware UTC; a naive value is taken to be UTC already (as SQLite hands it back)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def format_timestamp(value: datetime) -> str:
    """``2026-11-24T23:17:01.123456Z``, whatever zone ``value`` carries."""
    return as_utc(value).strftime(CONTRACT_FORMAT)

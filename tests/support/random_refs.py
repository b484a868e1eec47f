"""Unique ids per test, so tests never collide on shared databases (cosmicpython's habit)."""

from __future__ import annotations

import uuid


def random_suffix() -> str:
    return uuid.uuid4().hex[:8]


def random_sku(name: str = "") -> str:
    return f"SKU-{name}{'-' if name else ''}{random_suffix()}"


def random_order_id() -> str:
    return str(uuid.uuid4())

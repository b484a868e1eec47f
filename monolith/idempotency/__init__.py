"""Idempotency keys: a write sent twice with the same ``Idempotency-Key`` runs once, and the
second answer is the first one replayed (``keys.idempotent``); docs/payments-api.md."""

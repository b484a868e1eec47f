"""Celery sync: outbox relay, event application by the owner, backfill."""

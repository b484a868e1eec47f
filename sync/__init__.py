"""Celery sync: outbox relay, event application by the owner, backfill. The HTTP control code
the CLI and the plan use is apart, in ``sync.control``."""

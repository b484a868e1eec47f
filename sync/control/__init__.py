"""The control side of sync: what the CLI and the plan walker run against the owners' internal
HTTP (direction switches with a drain, reconciliation, stats and lag, dead letters, the backfill
starter). No Celery worker or relay imports it (.importlinter checks it)."""

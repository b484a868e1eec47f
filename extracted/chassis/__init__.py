"""What every extracted service shares, in two rooms and a few column types both use.

* ``web``: the HTTP edge that makes a service answer like the monolith (the app factory,
  settings, database session and unit of work, identity, the contract's error bodies,
  DRF-compatible parsing, validation and pagination, request ids, dry runs, health).
* ``sync``: the owner's side of sync (the event subscriber, the backfill's checkpoints and
  merges, dead letters, direction, reconciliation, lag metrics, the own-outbox relay and the
  internal routers behind the sync token).
* ``db_types`` and ``timefmt``: exact columns and the contract's timestamps, for both rooms.

Nothing here knows a service; services import from here, never the reverse. The web room
imports nothing of the sync room.
"""

"""The chassis's sync room: the owner's side of events, backfill, dead letters, direction,
reconciliation, lag metrics and the reverse relay, the same for every service."""

"""Reverse sync on the monolith's side: the direction of each capability (who takes its writes),
the inbox that applies the services' events (dedup, compare-and-set, no outbox: nothing loops),
and the dead letters of events it could not apply. docs/reverse-sync.md."""

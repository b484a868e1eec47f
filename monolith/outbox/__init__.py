"""The transactional outbox: events recorded in the same transaction as the rows they describe."""

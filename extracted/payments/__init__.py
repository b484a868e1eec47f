"""The extracted payments service: the monolith's payments HTTP contract on its own database
(authorise, capture, void, refunds against the fake card gateway, ``Idempotency-Key``)."""

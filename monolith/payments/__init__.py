"""Payments: authorise, capture, void and refund against a deterministic fake gateway
(``gateway.py``); docs/payments-api.md."""

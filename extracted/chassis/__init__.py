"""What every extracted service shares: settings base, database, health, request ids, token
verification and ownership rules (``identity``), the contract's error bodies, DRF-compatible
parsing, pagination, dry runs and time formats.

Nothing here knows a service; services import from here, never the reverse.
"""

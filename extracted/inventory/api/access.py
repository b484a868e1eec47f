"""Who may change stock: staff users and service accounts; reads are public (docs/inventory-api.md,
"Who may call"). The service's one declaration of the rule: every router of the public API takes
``stock_writers`` as its dependency."""

from __future__ import annotations

from extracted.chassis.web.access import staff_writes

stock_writers = staff_writes("Only staff may change stock.")

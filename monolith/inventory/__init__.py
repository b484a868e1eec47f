"""Inventory: products, stock adjustments and reservations (the capability being extracted)."""

"""HTTP entry points of the inventory service: one router module per resource."""

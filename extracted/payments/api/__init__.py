"""HTTP entry points of the payments service: one router module per resource."""

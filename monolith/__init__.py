"""The Django monolith that owns inventory (and later orders and payments)."""

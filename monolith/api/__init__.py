"""What every API of the monolith shares: error bodies, pagination, content negotiation."""

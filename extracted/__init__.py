"""Services extracted from the monolith, each owning its database, plus their small chassis."""

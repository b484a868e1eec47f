"""The strangler façade: routes each request to the monolith or an extracted service by flag."""

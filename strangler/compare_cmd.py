"""`strangler compare` (placeholder until its owner fills it in)."""


def compare() -> None:
    """Replay a scenario against the monolith and a service and diff the answers."""
    raise NotImplementedError

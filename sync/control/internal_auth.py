"""What every caller of an owner's internal endpoints that are not reads sends: the sync token
(``contracts.sync_token``: the rule, where the token comes from, the owners' answers).

Read when the call is made, from the caller's own environment (``STRANGLER_SYNC_TOKEN``, else
``$STRANGLER_VAR_DIR/sync-token``). Without one the call is not made: ``MissingSyncToken`` says
in one line how to set it, and the CLI prints that line and exits 1. An owner that refuses the
token is explained in one line too (``refusal_hint``), since the contract's 401 body says nothing
about why.
"""

from __future__ import annotations

from contracts.sync_token import MISSING_SYNC_TOKEN, SYNC_TOKEN_ENV, bearer, sync_token
from sync.control.stats import StatsUnavailable


class MissingSyncToken(StatsUnavailable):
    """No sync token to send; ``str(err)`` is the line that says how to set one."""


def sync_headers() -> dict[str, str]:
    """``Authorization: Bearer <the sync token>``; ``MissingSyncToken`` when there is none."""
    token = sync_token()
    if token is None:
        raise MissingSyncToken(MISSING_SYNC_TOKEN)
    return bearer(token)


def refusal_hint(status: int) -> str | None:
    """Why an owner refused the token (its answer's status), or None for any other answer."""
    if status == 401:
        return f"it refused the sync token: {SYNC_TOKEN_ENV} differs from the one it runs with"
    if status == 403:
        return f"it has no sync token configured: set {SYNC_TOKEN_ENV} where it runs"
    return None

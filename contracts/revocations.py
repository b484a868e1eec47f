"""Token revocation: how a deactivated, deleted or re-passworded account's tokens stop working on
every owner, without any owner asking the monolith on each request.

**The rule.** The monolith records, per account, ``revoked_at``: the second (Unix time, the
monolith's clock, floored) of the account's last revocation. A token whose ``sub`` has an entry
and whose ``iat <= revoked_at`` is refused, with the one 401 of any bad token
(``contracts.tokens.UNAUTHENTICATED_BODY``). The monolith issues every later token of the
account with ``iat > revoked_at`` (``iat`` moves up to one second ahead, well inside
``LEEWAY_S``), so a token issued after reactivation or a new password works at once.

**The list.** ``POST /internal/identity/revocations`` (an internal read behind the sync token, as
every non-``GET`` internal request is: ``contracts.sync_token``; it names accounts, so it is not
open) answers ``RevocationList``: every entry newer than ``RETENTION_S``. An older entry can
refuse no token any more: a token lives at most ``MAX_LIFETIME_S``, and verifiers allow
``LEEWAY_S`` of skew on ``exp``.

**The bound.** The monolith checks its own table on every request (immediately). Each service
fetches the list every ``refresh_s`` seconds on a fixed schedule
(``STRANGLER_REVOCATIONS_REFRESH_S``, default ``DEFAULT_REFRESH_S``), each fetch bounded by
``FETCH_TIMEOUT_S`` in all: a revocation committed at ``t`` is read by a fetch that starts by
``t + max(refresh_s, FETCH_TIMEOUT_S)`` and applied when it ends, so by ``t + bound_s(refresh_s)``
(7 s by default) while the monolith answers. While it does not, a service keeps its last list.
"""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from contracts.tokens import LEEWAY_S, MAX_LIFETIME_S, SubjectId

REVOCATIONS_PATH: Final = "/internal/identity/revocations"
#: How long an entry can still refuse a valid token (then the monolith drops it).
RETENTION_S: Final = MAX_LIFETIME_S + LEEWAY_S
#: A service's default refresh period, in seconds.
DEFAULT_REFRESH_S: Final = 5.0
#: The longest one fetch of the list may take (connect and read).
FETCH_TIMEOUT_S: Final = 2.0
#: The largest list a service reads (about 200,000 entries); a larger answer is refused whole.
MAX_LIST_BYTES: Final = 16 * 1024 * 1024
#: ``revoked_at`` fits a signed 64-bit column.
MAX_REVOKED_AT: Final = 2**63 - 1


def bound_s(refresh_s: float) -> float:
    """The longest a revoked token still works on a service refreshing every ``refresh_s``."""
    return max(refresh_s, FETCH_TIMEOUT_S) + FETCH_TIMEOUT_S


def refuses(revoked_at: int | None, iat: int) -> bool:
    """Whether an entry ``revoked_at`` (None: the account has none) refuses a token issued at
    ``iat``."""
    return revoked_at is not None and iat <= revoked_at


class Revocation(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sub: SubjectId
    revoked_at: Annotated[StrictInt, Field(ge=0, le=MAX_REVOKED_AT)]


class RevocationList(BaseModel):
    """The wire body. ``as_of``: the monolith's time of the answer (Unix seconds)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    revocations: list[Revocation]
    as_of: StrictInt

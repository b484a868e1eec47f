"""The dashboard's session cookie: a value derived from the admin token, never the token itself.

The cookie is ``HttpOnly`` and ``SameSite=Strict``. It proves the browser was given the token; a
new token (restart with another ``PROXY_ADMIN_TOKEN``) ends every session. Requests that change
something and are authorised by the cookie must also carry ``X-Strangler-Dashboard: 1``: a
custom header another site's page cannot send without a CORS preflight, which the admin
listener never grants (defence in depth against cross-site requests).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

SESSION_COOKIE = "strangler_admin"
#: The header the dashboard's script sends with every change.
DASHBOARD_HEADER = "X-Strangler-Dashboard"
SESSION_MAX_AGE_S = 12 * 3600
_PURPOSE = b"strangler-dashboard-session-v1"


def session_value(token: str) -> str:
    return hmac.new(token.encode(), _PURPOSE, hashlib.sha256).hexdigest()


def valid_session(cookies: Mapping[str, str], token: str) -> bool:
    given = cookies.get(SESSION_COOKIE, "")
    return bool(given) and hmac.compare_digest(given.encode(), session_value(token).encode())


def valid_token(given: str, token: str) -> bool:
    return bool(given) and hmac.compare_digest(given.strip().encode(), token.encode())

"""The web dashboard, served by the admin listener: routes and their flags, per-route request
and mismatch rates, recent mismatches side by side, and mode / percent changes through the admin
API's own validated path (``PATCH /admin/routes/{name}``).

Plain HTML and a little vanilla JavaScript (``index.html``, ``dashboard.js``, ``dashboard.css``
beside this file): no build step. Sign-in is the admin token, once (a form, or ``?token=``); the
browser then holds a session cookie derived from it (:mod:`proxy.dashboard.session`), which the
admin API accepts like the bearer token.
"""

from proxy.dashboard.session import SESSION_COOKIE, session_value, valid_session
from proxy.dashboard.views import add_dashboard_routes

__all__ = ["SESSION_COOKIE", "add_dashboard_routes", "session_value", "valid_session"]

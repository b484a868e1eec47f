"""The dashboard's pages: sign-in (form or ``?token=`` once), the page itself, sign-out; and the
start page (:mod:`proxy.dashboard.start_page`) behind the same sign-in."""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from proxy.dashboard.session import (
    SESSION_COOKIE,
    SESSION_MAX_AGE_S,
    session_value,
    valid_session,
    valid_token,
)

HERE = Path(__file__).resolve().parent
_STATIC = {
    "dashboard.js": "application/javascript",
    "dashboard.css": "text/css",
}

LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Strangler proxy — sign in</title>
<link rel="stylesheet" href="/dashboard/dashboard.css"></head>
<body><main class="login">
<h1>Strangler proxy</h1>
<form method="post" action="/dashboard/login">
<input type="hidden" name="next" value="{next}">
<label for="token">Admin token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
<p class="error" role="alert">{error}</p>
<p class="hint">The token is <code>$PROXY_ADMIN_TOKEN</code>, or the content of
<code>$STRANGLER_VAR_DIR/admin-token</code>.</p>
</main></body></html>
"""


#: The pages a sign-in may return to (``next``): the dashboard and the start page.
DASHBOARD = "/dashboard"
START = "/"
_PAGES = (DASHBOARD, START)


def _login(error: str = "", status: int = 401, next_page: str = DASHBOARD) -> web.Response:
    return web.Response(
        status=status,
        text=LOGIN_PAGE.format(error=html.escape(error), next=html.escape(next_page)),
        content_type="text/html",
        headers={"Cache-Control": "no-store"},
    )


class DashboardViews:
    """The handlers; ``token`` is the admin token the session cookie is derived from,
    ``start_page`` renders the start page (``GET /``) at each request."""

    def __init__(self, token: str, start_page: Callable[[], str]) -> None:
        self._token = token
        self._start_page = start_page

    def _signed_in(self, next_page: str) -> web.Response:
        resp = web.HTTPSeeOther(next_page)
        resp.set_cookie(
            SESSION_COOKIE,
            session_value(self._token),
            max_age=SESSION_MAX_AGE_S,
            path="/",
            httponly=True,
            samesite="Strict",
        )
        return resp

    def _signed_in_page(
        self, request: web.Request, page: str, html_text: Callable[[], str]
    ) -> web.StreamResponse:
        """``html_text`` for a signed-in browser; else the sign-in form, or the sign-in by
        ``?token=`` (a redirect back to ``page``, so the token leaves the address bar)."""
        if valid_session(request.cookies, self._token):
            return web.Response(
                text=html_text(),
                content_type="text/html",
                headers={"Cache-Control": "no-store"},
            )
        given = request.query.get("token")
        if given is None:
            return _login(next_page=page)
        if not valid_token(given, self._token):
            return _login("That token is not valid.", next_page=page)
        return self._signed_in(page)

    async def page(self, request: web.Request) -> web.StreamResponse:
        return self._signed_in_page(
            request, DASHBOARD, lambda: (HERE / "index.html").read_text(encoding="utf-8")
        )

    async def start(self, request: web.Request) -> web.StreamResponse:
        return self._signed_in_page(request, START, self._start_page)

    async def login(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        given = form.get("token")
        asked = form.get("next")
        # Only our own pages: a sign-in never redirects elsewhere.
        next_page = asked if isinstance(asked, str) and asked in _PAGES else DASHBOARD
        if not isinstance(given, str) or not valid_token(given, self._token):
            return _login("That token is not valid.", next_page=next_page)
        return self._signed_in(next_page)

    async def logout(self, request: web.Request) -> web.StreamResponse:
        resp = web.HTTPSeeOther(DASHBOARD)
        resp.del_cookie(SESSION_COOKIE, path="/")
        return resp

    async def static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in _STATIC:
            raise web.HTTPNotFound()
        text = (HERE / name).read_text(encoding="utf-8")
        return web.Response(text=text, content_type=_STATIC[name])


def add_dashboard_routes(
    app: web.Application, *, token: str, start_page: Callable[[], str]
) -> None:
    views = DashboardViews(token, start_page)
    app.router.add_get(START, views.start)
    app.router.add_get(DASHBOARD, views.page)
    app.router.add_post("/dashboard/login", views.login)
    app.router.add_post("/dashboard/logout", views.logout)
    app.router.add_get("/dashboard/{name}", views.static)

"""The dashboard's pages: sign-in (form or ``?token=`` once), the page itself, sign-out."""

from __future__ import annotations

import html
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
<label for="token">Admin token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
<p class="error" role="alert">{error}</p>
<p class="hint">The token is <code>$PROXY_ADMIN_TOKEN</code>, or the content of
<code>$STRANGLER_VAR_DIR/admin-token</code>.</p>
</main></body></html>
"""


def _login(error: str = "", status: int = 401) -> web.Response:
    return web.Response(
        status=status,
        text=LOGIN_PAGE.format(error=html.escape(error)),
        content_type="text/html",
        headers={"Cache-Control": "no-store"},
    )


class DashboardViews:
    """The handlers; ``token`` is the admin token the session cookie is derived from."""

    def __init__(self, token: str) -> None:
        self._token = token

    def _signed_in(self) -> web.Response:
        resp = web.HTTPSeeOther("/dashboard")
        resp.set_cookie(
            SESSION_COOKIE,
            session_value(self._token),
            max_age=SESSION_MAX_AGE_S,
            path="/",
            httponly=True,
            samesite="Strict",
        )
        return resp

    async def page(self, request: web.Request) -> web.StreamResponse:
        if valid_session(request.cookies, self._token):
            return web.Response(
                text=(HERE / "index.html").read_text(encoding="utf-8"),
                content_type="text/html",
                headers={"Cache-Control": "no-store"},
            )
        given = request.query.get("token")
        if given is None:
            return _login()
        if not valid_token(given, self._token):
            return _login("That token is not valid.")
        return self._signed_in()  # a redirect, so the token leaves the address bar

    async def login(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        given = form.get("token")
        if not isinstance(given, str) or not valid_token(given, self._token):
            return _login("That token is not valid.")
        return self._signed_in()

    async def logout(self, request: web.Request) -> web.StreamResponse:
        resp = web.HTTPSeeOther("/dashboard")
        resp.del_cookie(SESSION_COOKIE, path="/")
        return resp

    async def static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in _STATIC:
            raise web.HTTPNotFound()
        text = (HERE / name).read_text(encoding="utf-8")
        return web.Response(text=text, content_type=_STATIC[name])


def add_dashboard_routes(app: web.Application, *, token: str) -> None:
    views = DashboardViews(token)
    app.router.add_get("/dashboard", views.page)
    app.router.add_post("/dashboard/login", views.login)
    app.router.add_post("/dashboard/logout", views.logout)
    app.router.add_get("/dashboard/{name}", views.static)

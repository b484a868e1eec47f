"""The proxy admin API as the CLI reads it: where it is, its token, one GET."""

from __future__ import annotations

import os
from typing import Any

import httpx

from strangler.stack import var_dir


class AdminApiError(Exception):
    """The admin API could not be asked, or refused; ``str(err)`` is one line."""


def admin_target() -> tuple[str, str | None]:
    """The proxy admin API's base URL and token (None when there is none to read)."""
    base = os.environ.get("STRANGLER_PROXY_ADMIN_URL", "http://127.0.0.1:8081").rstrip("/")
    token = os.environ.get("PROXY_ADMIN_TOKEN")
    if not token:
        # The proxy's settings module (pydantic-settings) only when the environment has no token.
        from proxy.settings import read_token_file

        token = read_token_file(var_dir() / "admin-token")
    return base, token


def admin_get(path: str, params: dict[str, Any]) -> Any:
    """``GET path`` with the token; the JSON answer of a 200, else AdminApiError."""
    base, token = admin_target()
    if not token:
        raise AdminApiError(
            "no admin token: set PROXY_ADMIN_TOKEN or start the proxy once "
            "(it writes $STRANGLER_VAR_DIR/admin-token)"
        )
    try:
        resp = httpx.get(
            f"{base}{path}",
            params={k: v for k, v in params.items() if v is not None},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
    except httpx.HTTPError as err:
        raise AdminApiError(f"cannot reach the proxy admin API at {base}: {err}") from err
    if resp.status_code == 401:
        raise AdminApiError(f"the proxy admin API at {base} refused the token")
    if resp.status_code != 200:
        raise AdminApiError(f"the proxy admin API answered {resp.status_code}: {resp.text[:200]}")
    return resp.json()

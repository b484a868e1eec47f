"""Route on the path as Django decodes it, not as the ASGI server did.

Django (under gunicorn) percent-decodes the raw path to bytes and re-percent-encodes only the
byte sequences that are not valid UTF-8 (``repercent_broken_unicode``); uvicorn replaces them with
U+FFFD. So ``/api/inventory/products/%FF/`` names the sku ``%FF`` on the monolith and must here
too. Written here because it is Django's exact rule, a few lines long.
"""

from __future__ import annotations

from urllib.parse import quote, unquote_to_bytes

from starlette.types import ASGIApp, Receive, Scope, Send

_SAFE = b"/#%[]=:;$&()+,!?*@'~"


def repercent_broken_unicode(path: bytes) -> bytes:
    """Django's ``repercent_broken_unicode``."""
    changed: list[bytes] = []
    while True:
        try:
            path.decode()
        except UnicodeDecodeError as exc:
            changed.append(
                path[: exc.start] + quote(path[exc.start : exc.end], safe=_SAFE).encode()
            )
            path = path[exc.end :]
        else:
            return b"".join(changed) + path


def django_path(raw_path: bytes) -> str:
    return repercent_broken_unicode(unquote_to_bytes(raw_path)).decode()


class DjangoPathMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw_path = scope.get("raw_path") if scope["type"] == "http" else None
        if raw_path:
            scope = {**scope, "path": django_path(raw_path.split(b"?", 1)[0])}
        await self.app(scope, receive, send)

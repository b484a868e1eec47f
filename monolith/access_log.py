"""gunicorn's access log without the stack's own polling (``--logger-class``).

The proxy asks for the outbox's stats every few seconds and each service for the revocation list;
under ``strangler up`` their lines would bury every request a person sends. A poll that succeeds
is left out; one that fails is logged like any other request.
"""

from __future__ import annotations

from typing import Any, Final

from gunicorn.glogging import Logger

#: Paths the stack's processes poll (the supervisor's and compose's health checks included).
POLLED_PATHS: Final = (
    "/health/",
    "/metrics",
    "/internal/outbox/stats",
    "/internal/identity/revocations",
)


def is_quiet_poll(path: str, status: int) -> bool:
    return status < 400 and path.startswith(POLLED_PATHS)


class PollsLeftOut(Logger):
    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if is_quiet_poll(environ.get("PATH_INFO", ""), int(resp.status_code or 0)):
            return
        super().access(resp, req, environ, request_time)

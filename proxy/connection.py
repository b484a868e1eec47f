"""Client connections: limits on request heads, and a deadline for reading them.

aiohttp's server parses requests; these subclasses add what a façade on the open network needs:

* a request head (request line + headers) over the limits - more than ``max_headers`` header
  lines, or one line longer than ``max_field_size`` bytes - is answered ``431 Request Header
  Fields Too Large`` and the connection closed (aiohttp alone would say 400);
* a client must send a complete request head within ``header_timeout_s`` of its first byte
  (slowloris: a client dribbling header bytes holds a connection forever otherwise). When the
  deadline passes, the proxy answers ``408 Request Timeout`` and closes the connection. The clock
  starts at the first byte of each request head, so an idle keep-alive connection is governed by
  the keep-alive timeout, not this one.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong
from aiohttp.web_protocol import RequestHandler

log = logging.getLogger("proxy.connection")

_TIMEOUT_BODY = b'{"error": "request_timeout", "detail": "The request head was not sent in time."}'
_TIMEOUT_ANSWER = (
    b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Type: application/json\r\n"
    + f"Content-Length: {len(_TIMEOUT_BODY)}\r\n\r\n".encode()
    + _TIMEOUT_BODY
)


def _head_too_large(exc: BaseException | None) -> bool:
    return isinstance(exc, LineTooLong) or (
        isinstance(exc, BadHttpMessage) and "Too many headers" in str(exc)
    )


class GuardedRequestHandler(RequestHandler):
    """One client connection (aiohttp's protocol) with the head deadline and a 431 for heads
    over the limits."""

    def __init__(self, *args: Any, header_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timeout_s = header_timeout_s
        self._head_timer: asyncio.TimerHandle | None = None
        self._awaiting_head = True

    def expect_next_head(self) -> None:
        """The current request was read: the next bytes start a new head (and its deadline)."""
        self._awaiting_head = True

    def data_received(self, data: bytes) -> None:
        if self._awaiting_head and self._head_timer is None and data:
            self._head_timer = self._loop.call_later(self._head_timeout_s, self._head_expired)
        parsed = self._request_count
        super().data_received(data)
        if self._request_count != parsed and self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
            self._awaiting_head = False

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().connection_lost(exc)

    def _head_expired(self) -> None:
        self._head_timer = None
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        log.info(
            "proxy: closed a connection whose request head took over %gs", self._head_timeout_s
        )
        transport.write(_TIMEOUT_ANSWER)
        self.force_close()
        transport.close()

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if _head_too_large(exc):
            status, message = 431, "Request header fields too large."
        return super().handle_error(request, status, exc, message)


class GuardedServer(web.Server):
    """``web.Server`` whose connections are :class:`GuardedRequestHandler`."""

    def __init__(self, handler: Any, *, header_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._header_timeout_s = header_timeout_s

    def __call__(self) -> RequestHandler:
        return GuardedRequestHandler(
            self, loop=self._loop, header_timeout_s=self._header_timeout_s, **self._kwargs
        )

"""Upstreams answered in-process: the proxy's upstream seam (``UpstreamTransport``) with a
handler function behind it, as httpx's ``MockTransport`` stands in for a real transport."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from proxy.config import Upstream
from proxy.upstream_client import Sink, UpstreamFailure, UpstreamResponse, UpstreamTransport


@dataclass(frozen=True)
class Call:
    """One request as an upstream got it."""

    upstream: str
    method: str
    head: bytes


#: ``handler(call)``: the upstream's answer, or the failure that stands for none.
Handler = Callable[[Call], UpstreamResponse | UpstreamFailure]


def answer(status: int, headers: list[tuple[bytes, bytes]] | None = None) -> UpstreamResponse:
    return UpstreamResponse(status, headers or [(b"Content-Type", b"application/json")], b"{}")


class FakeUpstreams(UpstreamTransport):
    """Every exchange is answered by ``handler`` on the next loop iteration, and recorded."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.calls: list[Call] = []

    def host_header(self, upstream: Upstream) -> bytes:
        return upstream.url.split("://", 1)[-1].encode()

    def exchange(
        self, name: str, upstream: Upstream, method: str, head: list[bytes], sink: Sink
    ) -> None:
        call = Call(name, method, b"".join(head))
        self.calls.append(call)
        outcome = self.handler(call)
        loop = asyncio.get_running_loop()
        if isinstance(outcome, UpstreamFailure):
            loop.call_soon(sink, None, outcome)
        else:
            loop.call_soon(sink, outcome, None)

    def to(self, upstream: str) -> list[Call]:
        return [call for call in self.calls if call.upstream == upstream]

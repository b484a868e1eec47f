"""Header hygiene at the façade: what crosses the proxy, in each direction, and what it adds.

Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection and are dropped both ways, along
with every header the ``Connection`` header names. Clients cannot speak for the proxy: their
``X-Strangler-*`` headers are always removed, and their ``X-Forwarded-*`` and ``Forwarded``
headers are replaced by the proxy's own - unless the peer is a configured trusted proxy
(``PROXY_TRUSTED_PROXIES``), whose forwarding headers are kept and extended (its address is
appended to ``X-Forwarded-For``). ``Host`` passes through unchanged, because the upstreams build
pagination links from it.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator, Mapping, Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import TypeAlias, overload

from multidict import CIMultiDict, CIMultiDictProxy

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
#: Headers that name the client's address in some server's or CDN's convention (besides
#: ``X-Forwarded-For``, ``X-Real-IP`` and ``Forwarded``): never forwarded as a client sent them,
#: by the proxy (proxy/wire.py) nor by the configurations it exports (export_nginx, export_envoy).
CLIENT_ADDRESS_HEADERS = (
    "True-Client-IP",
    "X-Client-IP",
    "Client-IP",
    "CF-Connecting-IP",
    "Fastly-Client-IP",
    "Akamai-Client-IP",
    "X-Cluster-Client-IP",
    "X-Originating-IP",
    "X-Remote-IP",
    "X-Remote-Addr",
    "X-Original-Forwarded-For",
    "X-Original-Remote-Addr",
    "X-ProxyUser-IP",
    "X-AppEngine-User-IP",
    "X-Azure-ClientIP",
    "X-Envoy-External-Address",
    "Forwarded-For",
    "X-Forwarded",
)
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")
_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")

REQUEST_ID = "X-Request-Id"
TRACEPARENT = "traceparent"
DRY_RUN = "X-Strangler-Dry-Run"
UPSTREAM = "X-Strangler-Upstream"
ROUTE = "X-Strangler-Route"


class HeaderView(Mapping[str, str]):
    """A read-only, case-insensitive ``str`` view of a raw header list (what ``Router.decide``,
    ``ForwardedTrust`` and the functions below read). Built lazily: a request whose route
    names no header and whose client sent no request id costs two look-ups, one pass."""

    __slots__ = ("_index", "raw")

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self.raw = raw
        self._index: dict[str, list[str]] | None = None

    def _lookup(self) -> dict[str, list[str]]:
        index = self._index
        if index is None:
            index = self._index = {}
            for name, value in self.raw:
                index.setdefault(name.decode("latin-1").lower(), []).append(value.decode("latin-1"))
        return index

    def __getitem__(self, name: str) -> str:
        return self._lookup()[name.lower()][0]

    @overload  # type: ignore[override]
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: str) -> str: ...
    @overload
    def get(self, name: str, default: None) -> str | None: ...

    def get(self, name: str, default: str | None = None) -> str | None:
        if self._index is None:  # one or two look-ups per request: a scan beats an index
            key = name.lower().encode("latin-1")
            size = len(key)
            for raw_name, value in self.raw:
                if len(raw_name) == size and raw_name.lower() == key:
                    return value.decode("latin-1")
            return default
        values = self._index.get(name.lower())
        return values[0] if values else default

    def getall(self, name: str, default: object = None) -> list[str]:
        values = self._lookup().get(name.lower())
        if values:
            return values
        if default is None:
            raise KeyError(name)
        return list(default)  # type: ignore[call-overload]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[str]:
        return (name.decode("latin-1") for name, _ in self.raw)

    def __len__(self) -> int:
        return len(self.raw)

    def items(self) -> Iterator[tuple[str, str]]:  # type: ignore[override]
        """Every header in order, repeated names included (multidict semantics)."""
        return ((n.decode("latin-1"), v.decode("latin-1")) for n, v in self.raw)


#: Request or answer headers as read: the listener's view, or a multidict.
RawHeaders: TypeAlias = CIMultiDict[str] | CIMultiDictProxy[str] | HeaderView


class ForwardedTrust:
    """Which peers may speak for their clients in ``X-Forwarded-*`` / ``Forwarded``."""

    def __init__(self, networks: Sequence[IPv4Network | IPv6Network] = ()) -> None:
        self._networks = tuple(networks)

    def trusts(self, addr: str) -> bool:
        if not self._networks:
            return False
        try:
            ip = ip_address(addr)
        except ValueError:
            return False
        return any(ip in network for network in self._networks)

    def client_address(self, peer: str, headers: RawHeaders) -> str:
        """The client's address: the peer itself, or - when the peer is trusted - the rightmost
        ``X-Forwarded-For`` entry that is not a trusted proxy (entries left of it could be
        forged by the client)."""
        if not self.trusts(peer):
            return peer
        chain = [
            addr.strip()
            for value in headers.getall("X-Forwarded-For", ())
            for addr in value.split(",")
            if addr.strip()
        ]
        for addr in reversed(chain):
            if not self.trusts(addr):
                try:
                    return str(ip_address(addr))
                except ValueError:
                    return peer  # garbage where an address should be: only the peer is known
        return chain[0] if chain else peer


def request_id(headers: RawHeaders) -> str:
    """The client's ``X-Request-Id`` when it is sane (short, printable), else a new one."""
    given = headers.get(REQUEST_ID)
    if given and _SANE_REQUEST_ID.match(given):
        return given
    return os.urandom(16).hex()


def traceparent(headers: RawHeaders) -> str:
    """W3C trace context: continue the client's trace with a new span id, or start a trace."""
    match = _TRACEPARENT.match(headers.get(TRACEPARENT, "").strip())
    if match and match.group(1) != "ff":
        trace_id, parent, flags = match.group(2), match.group(3), match.group(4)
        if trace_id != "0" * 32 and parent != "0" * 16:
            return f"00-{trace_id}-{secrets.token_hex(8)}-{flags}"
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


#: Request headers that carry credentials: never stored as sent.
CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
REDACTED = "[redacted]"


def sanitised_for_storage(headers: RawHeaders) -> dict[str, str]:
    """Request headers as kept in the diff store: credentials replaced by a marker."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower in CREDENTIAL_HEADERS:
            value = REDACTED
        out[name] = value if name not in out else f"{out[name]}, {value}"
    return out

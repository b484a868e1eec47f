"""Listening ports for the processes tests start.

A port the kernel hands out for ``bind(("127.0.0.1", 0))`` comes from the ephemeral range, the
same range every outgoing connection (to PostgreSQL, Redis, a test's own HTTP client) takes its
local port from. Between the moment a test learns such a port and the moment its server binds
it, any of those connections may take it, and the server dies with "address already in use".
So tests take ports *below* the ephemeral range, which the kernel never hands out on its own,
each pytest-xdist worker from a block of its own so two workers never race for one port. A
port is handed out only if it can be bound right now (nothing listens there, no connection
holds it), and each port once per process while the block lasts.
"""

from __future__ import annotations

import os
import random
import socket
from itertools import count
from pathlib import Path

_LOWEST = 20000
_WORKER_BLOCKS = 8


def _ephemeral_floor() -> int:
    try:
        low = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0]
        return int(low)
    except (OSError, ValueError, IndexError):
        return 32768


def _worker_index() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    digits = worker.removeprefix("gw")
    return int(digits) % _WORKER_BLOCKS if digits.isdigit() else 0


def _block() -> range:
    size = (_ephemeral_floor() - _LOWEST) // _WORKER_BLOCKS
    start = _LOWEST + _worker_index() * size
    return range(start, start + size)


_BLOCK = _block()
# A random starting point, so two test runs on one machine (two checkouts) rarely walk the same
# ports in step; the bind check below catches the rest.
_NEXT = count(random.randrange(len(_BLOCK)))


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # The servers under test set SO_REUSEADDR, so a port whose last connection lingers in
        # TIME_WAIT is one they can bind; test with the same option.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    """A TCP port on 127.0.0.1, outside the ephemeral range, that nothing holds right now."""
    for _ in range(len(_BLOCK)):
        port = _BLOCK[next(_NEXT) % len(_BLOCK)]
        if _bindable(port):
            return port
    raise RuntimeError(f"no bindable port left in {_BLOCK}")

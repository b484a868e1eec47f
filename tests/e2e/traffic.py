"""Steady client traffic through the proxy, recorded so a test can judge every response."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Observation:
    method: str
    path: str
    status: int
    upstream: str
    body: Any
    #: time.monotonic() just before the request left the client.
    sent_at: float


@dataclass
class Traffic:
    """Readers GET a fixed set of paths whose answers must never change; a writer adjusts stock
    of other products (writes go to the monolith and reach the service by sync) as the caller
    ``writer_headers`` names (a stock writer: staff)."""

    proxy_url: str
    read_paths: list[str]
    write_skus: list[str]
    writer_headers: dict[str, str]
    observations: list[Observation] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def _record(self, method: str, path: str, resp: httpx.Response, sent_at: float) -> None:
        body = (
            resp.json()
            if resp.headers.get("content-type", "").startswith("application/json")
            else resp.text
        )
        with self._lock:
            self.observations.append(
                Observation(
                    method,
                    path,
                    resp.status_code,
                    resp.headers.get("X-Strangler-Upstream", "?"),
                    body,
                    sent_at,
                )
            )

    def _reader(self, client_id: int) -> None:
        with httpx.Client(base_url=self.proxy_url, timeout=10) as client:
            i = 0
            while not self._stop.is_set():
                path = self.read_paths[i % len(self.read_paths)]
                i += 1
                try:
                    sent_at = time.monotonic()
                    resp = client.get(path, headers={"X-Client-Id": f"client-{client_id}-{i % 50}"})
                    self._record("GET", path, resp, sent_at)
                except httpx.HTTPError as err:
                    with self._lock:
                        self.errors.append(f"GET {path}: {err!r}")

    def _writer(self) -> None:
        with httpx.Client(
            base_url=self.proxy_url, timeout=10, headers=self.writer_headers
        ) as client:
            i = 0
            while not self._stop.is_set():
                sku = self.write_skus[i % len(self.write_skus)]
                i += 1
                path = f"/api/inventory/products/{sku}/adjustments/"
                try:
                    sent_at = time.monotonic()
                    resp = client.post(path, json={"delta": 1 if i % 3 else -1, "reason": "e2e"})
                    self._record("POST", path, resp, sent_at)
                except httpx.HTTPError as err:
                    with self._lock:
                        self.errors.append(f"POST {path}: {err!r}")

    def start(self, readers: int = 3) -> None:
        self._threads = [threading.Thread(target=self._reader, args=(n,)) for n in range(readers)]
        self._threads.append(threading.Thread(target=self._writer))
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def count(self) -> int:
        with self._lock:
            return len(self.observations)

    def upstreams_sent_after(self, moment: float, method: str = "GET") -> Counter[str]:
        """Who served the requests sent after ``moment`` (requests still in flight from before
        belong to the table that was current when they were sent)."""
        with self._lock:
            return Counter(
                o.upstream for o in self.observations if o.method == method and o.sent_at > moment
            )

"""Waiting for a running proxy to serve a route file that was just written.

The proxy polls its route file (``proxy/reload.py``), so a flag change is live a moment after
the write, not at once. Tools that change flags (``strangler routes set``, ``strangler plan``)
wait here until the proxy's admin API reports the new file's digest, so that what a person does
next (send traffic, read counters from the step's start) already meets the new table.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx

Outcome = Literal["live", "not_running", "other_file", "refused", "timeout"]


@dataclass(frozen=True)
class LoadWait:
    outcome: Outcome
    detail: str

    @property
    def live(self) -> bool:
        return self.outcome == "live"


def await_loaded(
    admin_url: str,
    token: str | None,
    routes_file: Path,
    digest: str,
    *,
    timeout_s: float = 5.0,
    poll_s: float = 0.1,
) -> LoadWait:
    """Poll ``GET /admin/routes`` until the proxy serves ``digest`` from ``routes_file``.

    Never raises for the proxy's sake: a proxy that is not running, serves another file, or
    refused the file (``last_error``) is an outcome the caller reports.
    """
    base = admin_url.rstrip("/")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=2.0) as client:
        while True:
            try:
                response = client.get(f"{base}/admin/routes", headers=headers)
            except httpx.HTTPError:
                return LoadWait("not_running", f"no proxy admin API answers at {base}")
            if response.status_code != 200:
                return LoadWait(
                    "not_running", f"the proxy admin API at {base} answered {response.status_code}"
                )
            served = response.json()
            if Path(str(served.get("file", ""))).resolve() != routes_file.resolve():
                return LoadWait("other_file", f"the proxy at {base} serves {served.get('file')}")
            if served.get("digest") == digest:
                return LoadWait("live", f"the proxy at {base} serves it")
            if served.get("last_error") and time.monotonic() >= deadline:
                return LoadWait("refused", f"the proxy refused the file: {served['last_error']}")
            if time.monotonic() >= deadline:
                return LoadWait("timeout", f"the proxy at {base} has not loaded it yet")
            time.sleep(poll_s)

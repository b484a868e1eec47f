"""A client that writes without pause through a direction switch (the reverse-sync tests): it
sends each write to whichever owner the test's route points at (``target``, moved by the test
inside the switch, as the proxy's write route moves), retries a 503 as a client honouring
``Retry-After`` would (sooner), and stops at any other refusal or a transport error."""

from __future__ import annotations

import threading
import time

import httpx


class Writer(threading.Thread):
    """Subclasses say what one write is (``step``) and what an accepted answer means
    (``accept``)."""

    def __init__(self, target: str, *, headers: dict[str, str] | None = None) -> None:
        """``headers`` go with every write (e.g. the caller's ``Authorization``)."""
        super().__init__(daemon=True)
        self.target = target
        self.headers = headers or {}
        self.by_target: dict[str, int] = {}
        self.refused = 0
        self.errors: list[str] = []
        self.halt = threading.Event()

    def step(self, client: httpx.Client, target: str) -> httpx.Response:
        raise NotImplementedError

    def accept(self, answer: httpx.Response) -> None:
        raise NotImplementedError

    def run(self) -> None:
        with httpx.Client(timeout=30, headers=self.headers) as client:
            while not self.halt.is_set():
                target = self.target
                try:
                    answer = self.step(client, target)
                except httpx.HTTPError as err:
                    self.errors.append(f"{target}: {err!r}")
                    return
                if answer.status_code == 503:
                    self.refused += 1
                    assert answer.headers["Retry-After"].isdigit()
                    time.sleep(0.02)  # a client's pause before its retry, not a test's wait
                    continue
                if answer.status_code not in (200, 201):
                    self.errors.append(f"{target}: {answer.status_code} {answer.text}")
                    return
                self.accept(answer)
                self.by_target[target] = self.by_target.get(target, 0) + 1

    def total(self, target: str) -> int:
        """Writes ``target`` accepted."""
        return self.by_target.get(target, 0)

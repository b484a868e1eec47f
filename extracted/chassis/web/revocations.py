"""A service's copy of the monolith's revocation list (``contracts.revocations``), refreshed in the
background so no request waits on the monolith.

* A thread fetches ``POST <monolith>/internal/identity/revocations`` (with the sync token) every
  ``refresh_s`` seconds on a fixed schedule, each fetch bounded by ``timeout_s`` in all
  (``FETCH_TIMEOUT_S``): a revocation reaches the service within
  ``contracts.revocations.bound_s(refresh_s)``.
* A fetch that fails (monolith unreachable, refused, not the contract's shape, larger than
  ``MAX_LIST_BYTES``) keeps the last list and logs why; an entry that is not the contract's
  (a bad ``sub``, a ``revoked_at`` that is no integer or out of range) is skipped and counted in
  the log line, so one bad row cannot hold back the others.
* Until a first list is loaded, ``loaded`` is false: the verifier then refuses tokens with a 503
  (``identity_unavailable``) and ``/health/ready`` says not ready. Fail-closed, because a
  service that cannot know what was revoked cannot keep the stated bound, and a 503 (retry) is
  what the key source answers too when it cannot get the key; it only lasts until the monolith
  first answers, which a service needs anyway for every new token.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import httpx
from fastapi import FastAPI
from pydantic import ValidationError

from contracts.revocations import (
    DEFAULT_REFRESH_S,
    FETCH_TIMEOUT_S,
    MAX_LIST_BYTES,
    Revocation,
    refuses,
)
from contracts.sync_token import bearer, sync_token

logger = logging.getLogger(__name__)

#: Before the first list is loaded, a failed fetch is tried again this soon (at most).
FIRST_LOAD_RETRY_S: Final = 0.5
#: Digits an integer in the list may have (a ``revoked_at`` is at most 19); longer ones are not
#: converted (Python's conversion is quadratic) and fail their entry.
MAX_INTEGER_DIGITS: Final = 20


class ListRefused(Exception):
    """The answer cannot be used at all; the last list stays."""


@dataclass(frozen=True)
class Parsed:
    entries: dict[uuid.UUID, int]
    skipped: int


class _TooLong:
    """What an over-long integer literal parses to: no validator takes it."""


def _integer(text: str) -> int | _TooLong:
    return _TooLong() if len(text.lstrip("-")) > MAX_INTEGER_DIGITS else int(text)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_list(raw: bytes) -> Parsed:
    """The entries of an answer (the latest ``revoked_at`` of each ``sub``), or ``ListRefused``
    when it is not a ``RevocationList`` at the top (entries are judged one by one)."""
    if len(raw) > MAX_LIST_BYTES:
        raise ListRefused(f"answer larger than {MAX_LIST_BYTES} bytes")
    try:
        body = json.loads(raw, parse_int=_integer, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise ListRefused(f"not JSON: {str(exc)[:200]}") from None
    if not isinstance(body, dict) or not isinstance(body.get("revocations"), list):
        raise ListRefused("not a revocation list: no 'revocations' array")
    entries: dict[uuid.UUID, int] = {}
    skipped = 0
    for item in body["revocations"]:
        try:
            entry = Revocation.model_validate(item)
        except ValidationError:
            skipped += 1
            continue
        entries[entry.sub] = max(entry.revoked_at, entries.get(entry.sub, entry.revoked_at))
    return Parsed(entries, skipped)


class RevocationList:
    """The revoked accounts this service knows of (thread-safe: the dict is replaced whole)."""

    def __init__(
        self,
        url: str,
        *,
        refresh_s: float = DEFAULT_REFRESH_S,
        timeout_s: float = FETCH_TIMEOUT_S,
        token: Callable[[], str | None] = sync_token,
    ) -> None:
        """``token``: the sync token to send, read before each fetch (it may appear later)."""
        self.url = url
        self._token = token
        self.refresh_s = refresh_s
        self.timeout_s = timeout_s
        self._entries: dict[uuid.UUID, int] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def loaded(self) -> bool:
        return self._entries is not None

    def __len__(self) -> int:
        return len(self._entries or {})

    def revoked(self, sub: uuid.UUID, iat: int) -> bool:
        """Whether the last list loaded refuses a token of ``sub`` issued at ``iat``."""
        return refuses((self._entries or {}).get(sub), iat)

    def refresh(self, client: httpx.Client) -> bool:
        """Fetch the list once and apply it; False (the last list kept, the reason logged) when
        the fetch fails."""
        token = self._token()
        if token is None:
            logger.error("revocation list %s not fetched: no sync token configured", self.url)
            return False
        try:
            raw = self._fetch(client, token)
            parsed = parse_list(raw)
        except (httpx.HTTPError, ListRefused) as exc:
            logger.error("revocation list %s not loaded, the last one kept: %s", self.url, exc)
            return False
        if parsed.skipped:
            logger.error(
                "revocation list %s: %d entries skipped (not the contract's shape)",
                self.url,
                parsed.skipped,
            )
        first = self._entries is None
        self._entries = parsed.entries
        if first:
            logger.info("revocation list %s loaded: %d entries", self.url, len(parsed.entries))
        return True

    def _fetch(self, client: httpx.Client, token: str) -> bytes:
        deadline = time.monotonic() + self.timeout_s
        with client.stream(
            "POST", self.url, json={}, headers=bearer(token), timeout=self.timeout_s
        ) as response:
            if response.status_code != 200:
                raise ListRefused(f"answered {response.status_code}")
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if time.monotonic() > deadline:
                    raise ListRefused(f"answer not read within {self.timeout_s} s")
                if size > MAX_LIST_BYTES:
                    raise ListRefused(f"answer larger than {MAX_LIST_BYTES} bytes")
                chunks.append(chunk)
            return b"".join(chunks)

    def run(self) -> None:
        """Refresh until ``stop``: a fetch starts every ``refresh_s`` (sooner while no list is
        loaded), whatever the previous one took."""
        with httpx.Client() as client:
            next_at = time.monotonic()
            while not self._stop.is_set():
                self.refresh(client)
                period = self.refresh_s if self.loaded else min(self.refresh_s, FIRST_LOAD_RETRY_S)
                next_at = max(next_at + period, time.monotonic())
                self._stop.wait(max(0.0, next_at - time.monotonic()))

    def start(self) -> None:
        """Run the refresher in a daemon thread (once)."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self.run, name="revocations", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout_s + 1)
            self._thread = None


def app_revocations(app: FastAPI) -> RevocationList | None:
    """The revocation list the app's token verifier (``app.state.token_verifier``) checks."""
    verifier = getattr(app.state, "token_verifier", None)
    revocations = getattr(verifier, "revocations", None)
    return revocations if isinstance(revocations, RevocationList) else None

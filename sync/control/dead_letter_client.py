"""A subscriber's dead letters over its internal HTTP (``/internal/sync/dead-letters``, served
by ``extracted.chassis.sync.dead_letter_api``): what `strangler sync dead-letters` calls. The
list is a read (open); a replay carries the sync token (``sync.control.internal_auth``)."""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from sync.control.internal_auth import refusal_hint, sync_headers
from sync.control.stats import StatsUnavailable

#: Replaying many letters runs them one by one in the service: give it time.
REPLAY_TIMEOUT_S = 120.0


class DeadLetterRefused(RuntimeError):
    """The service refused the request (unknown id, bad input); ``str(err)`` is its sentence."""


class DeadLetterView(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: int
    event_id: str | None
    error: str
    attempts: int
    parked_at: str
    last_failed_at: str
    envelope: Any


class DeadLetterPage(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    count: int
    dead_letters: list[DeadLetterView]


class ReplayView(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: int
    event_id: str | None
    result: str
    outcome: str | None
    error: str | None


def _url(service_url: str, tail: str = "") -> str:
    return f"{service_url.rstrip('/')}/internal/sync/dead-letters{tail}"


def _answer(response: httpx.Response, url: str) -> Any:
    if response.status_code in (400, 404):
        try:
            detail = response.json()["detail"]
        except (ValueError, KeyError, TypeError):
            detail = f"answered {response.status_code}"
        raise DeadLetterRefused(str(detail))
    if response.status_code != 200:
        hint = refusal_hint(response.status_code)
        raise StatsUnavailable(
            f"the service at {url} answered {response.status_code}" + (f": {hint}" if hint else "")
        )
    try:
        return response.json()
    except ValueError:
        raise StatsUnavailable(f"the service at {url} did not answer JSON") from None


def fetch_dead_letters(service_url: str, *, limit: int = 100) -> DeadLetterPage:
    url = _url(service_url)
    try:
        response = httpx.get(url, params={"limit": limit}, timeout=10)
    except httpx.HTTPError as err:
        raise StatsUnavailable(f"the service at {url} is unreachable: {err}") from err
    try:
        return DeadLetterPage.model_validate(_answer(response, url))
    except ValidationError:
        raise StatsUnavailable(f"the service at {url} answered an unexpected shape") from None


def replay_dead_letters(service_url: str, *, ids: list[int] | None) -> list[ReplayView]:
    """Replay ``ids`` (all when None); one result per letter the service tried."""
    url = _url(service_url, "/replay")
    body: dict[str, Any] = {"all": True} if ids is None else {"ids": ids}
    headers = sync_headers()
    try:
        response = httpx.post(url, json=body, headers=headers, timeout=REPLAY_TIMEOUT_S)
    except httpx.HTTPError as err:
        raise StatsUnavailable(f"the service at {url} is unreachable: {err}") from err
    data = _answer(response, url)
    try:
        return [ReplayView.model_validate(r) for r in data["results"]]
    except (ValidationError, KeyError, TypeError):
        raise StatsUnavailable(f"the service at {url} answered an unexpected shape") from None

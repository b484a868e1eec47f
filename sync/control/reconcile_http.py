"""The two owners' reconciliation endpoints over HTTP (``/internal/reconcile/<aggregate>/...``),
as the ``Side``s sync.control.reconcile bisects. The driver reads no database itself. Every
endpoint is a ``POST``, so every call carries the sync token (``sync.control.internal_auth``),
read when a side is made: without one, ``MissingSyncToken`` before any request."""

from __future__ import annotations

from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from contracts.reconcile import (
    BoundsRequest,
    BoundsResponse,
    ChecksumsRequest,
    ChecksumsResponse,
    ReconciliationReport,
    RepairRequest,
    RepairResult,
    RowsRequest,
    RowsResponse,
    StatesRequest,
)
from protocol.reconcile_spec import spec_named
from sync.control.internal_auth import refusal_hint, sync_headers
from sync.control.stats import StatsUnavailable

M = TypeVar("M", bound=BaseModel)

#: A checksum pass over a million rows takes seconds; allow for a loaded machine.
TIMEOUT_S = 120.0


class ReconcileUnavailable(StatsUnavailable):
    """An endpoint could not be used; ``str(err)`` is one line for the operator."""


class HttpSide:
    def __init__(self, what: str, base_url: str, client: httpx.Client, aggregate: str) -> None:
        self.what = what
        self.base = f"{base_url.rstrip('/')}/internal/reconcile/{aggregate}"
        self.client = client
        self.headers = sync_headers()

    def _post(self, path: str, body: BaseModel, answer: type[M]) -> M:
        url = f"{self.base}/{path}"
        try:
            response = self.client.post(
                url, json=body.model_dump(mode="json"), headers=self.headers, timeout=TIMEOUT_S
            )
        except httpx.HTTPError as err:
            raise ReconcileUnavailable(
                f"{self.what} at {url} is unreachable: {err or type(err).__name__}"
            ) from err
        if response.status_code not in (200, 201):
            why = refusal_hint(response.status_code) or response.text[:300]
            raise ReconcileUnavailable(
                f"{self.what} at {url} answered {response.status_code}: {why}"
            )
        try:
            return answer.model_validate(response.json())
        except (ValueError, ValidationError):
            raise ReconcileUnavailable(
                f"{self.what} at {url} answered an unexpected shape"
            ) from None

    def bounds(self, request: BoundsRequest) -> BoundsResponse:
        return self._post("bounds", request, BoundsResponse)

    def checksums(self, request: ChecksumsRequest) -> ChecksumsResponse:
        return self._post("checksums", request, ChecksumsResponse)

    def rows(self, request: RowsRequest) -> RowsResponse:
        return self._post("rows", request, RowsResponse)


class _States(BaseModel):
    states: list[dict[str, Any]]


class _Recorded(BaseModel):
    recorded: bool


class MonolithSide(HttpSide):
    def __init__(self, base_url: str, client: httpx.Client, aggregate: str = "products") -> None:
        super().__init__("the monolith", base_url, client, aggregate)

    def states(self, keys: list[str]) -> list[dict[str, object]]:
        return list(self._post("states", StatesRequest(keys=keys), _States).states)


class ServiceSide(HttpSide):
    """The aggregate's owner (protocol.reconcile_spec: ``capability``)."""

    def __init__(self, base_url: str, client: httpx.Client, aggregate: str = "products") -> None:
        owner = spec_named(aggregate).capability
        super().__init__(f"the {owner} service", base_url, client, aggregate)

    def repair(self, request: RepairRequest) -> RepairResult:
        return self._post("repair", request, RepairResult)

    def record(self, report: ReconciliationReport) -> None:
        self._post("runs", report.for_record(), _Recorded)

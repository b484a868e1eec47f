"""A customer of the monolith in the sync tests: a token of the rig's monolith, writing payments
and orders through the monolith's API and comparing what each side answers."""

from __future__ import annotations

from typing import Any

from tests.support.callers import stack_caller_headers
from tests.support.payments_api import idempotency_key
from tests.sync.rig import SyncRig


class Customer:
    """A new customer of the rig, writing payments and orders through the monolith's API. Its
    token is signed with the rig's keys in this process (every owner reads the caller from the
    token alone), not issued by a ``manage.py`` run."""

    def __init__(self, rig: SyncRig) -> None:
        self.rig = rig
        self.headers = stack_caller_headers(rig.env, staff=False)

    def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        headers = {**self.headers, **idempotency_key()}
        answer = self.rig.http.post(
            f"{self.rig.monolith_url}{path}", json=body or {}, headers=headers, timeout=30
        )
        assert answer.status_code in (200, 201), (path, answer.status_code, answer.text)
        data: dict[str, Any] = answer.json()
        return data

    def get(self, base_url: str, path: str) -> tuple[int, Any]:
        answer = self.rig.http.get(f"{base_url}{path}", headers=self.headers)
        return answer.status_code, answer.json()

    def synced(self, capability: str, path: str) -> bool:
        monolith = self.get(self.rig.monolith_url, path)
        service = self.get(self.rig.service_url(capability), path)
        return monolith[0] == 200 and monolith == service

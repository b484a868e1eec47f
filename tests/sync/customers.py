"""A customer of the monolith in the sync tests: an account with a token, writing payments and
orders through the monolith's API and comparing what each side answers."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.payments_api import idempotency_key
from tests.support.processes import VENV_BIN
from tests.support.random_refs import random_suffix
from tests.sync.rig import SyncRig


class Customer:
    """A monolith account with a token, writing payments and orders through the monolith's API."""

    def __init__(self, rig: SyncRig) -> None:
        self.rig = rig
        issued = rig.run_program(
            str(VENV_BIN / "python"),
            "monolith/manage.py",
            "issue_token",
            f"sync-customer-{random_suffix()}",
            "--create",
        )
        assert issued.returncode == 0, issued.stderr
        self.headers = {"Authorization": f"Bearer {issued.stdout.strip().splitlines()[-1]}"}

    def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        headers = {**self.headers, **idempotency_key()}
        answer = httpx.post(
            f"{self.rig.monolith_url}{path}", json=body or {}, headers=headers, timeout=30
        )
        assert answer.status_code in (200, 201), (path, answer.status_code, answer.text)
        data: dict[str, Any] = answer.json()
        return data

    def get(self, base_url: str, path: str) -> tuple[int, Any]:
        answer = httpx.get(f"{base_url}{path}", headers=self.headers, timeout=10)
        return answer.status_code, answer.json()

    def synced(self, capability: str, path: str) -> bool:
        monolith = self.get(self.rig.monolith_url, path)
        service = self.get(self.rig.service_url(capability), path)
        return monolith[0] == 200 and monolith == service

"""Purging old idempotency records frees their keys; younger ones keep replaying."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from extracted.chassis.timefmt import utcnow
from extracted.payments.models import IdempotencyRecord
from monolith.identity.models import User
from tests.extracted.asgi_client import BlockingASGIClient
from tests.extracted.payments.conftest import bearer
from tests.support.payments_api import PAYMENTS, idempotency_key, payment_body
from tests.support.processes import REPO_ROOT


def purge(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "extracted.payments.purge_idempotency_keys", *args],
        cwd=REPO_ROOT,
        env={**os.environ, "PAYMENTS_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_old_keys_are_freed_and_young_ones_kept(
    client: BlockingASGIClient,
    customer: User,
    sessions: sessionmaker[Session],
    payments_url: str,
) -> None:
    old, young = idempotency_key(), idempotency_key()
    for key in (old, young):
        resp = client.post(PAYMENTS, json=payment_body(), headers={**bearer(customer), **key})
        assert resp.status_code == 201
    with sessions.begin() as session:
        session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.key == old["Idempotency-Key"])
            .values(created_at=utcnow() - timedelta(hours=25))
        )
    done = purge(payments_url)
    assert (done.returncode, done.stdout) == (0, "idempotency records purged: 1\n")
    for key, replayed in ((old, False), (young, True)):
        resp = client.post(PAYMENTS, json=payment_body(), headers={**bearer(customer), **key})
        assert ("Idempotent-Replayed" in resp.headers) is replayed


def test_bad_hours_are_one_line_and_exit_2(payments_url: str) -> None:
    done = purge(payments_url, "--hours", "-1")
    assert done.returncode == 2
    assert done.stderr.strip() == "purge failed: --hours must be 0 or more, got -1.0"

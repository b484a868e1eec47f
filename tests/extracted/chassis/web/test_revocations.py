"""A service's revocation list (``extracted.chassis.web.revocations``), in process: refreshed from
the monolith's own endpoint (its WSGI app, on the test database), it refuses a deactivated or
deleted account's tokens with the one 401 and nobody else's; before a first list it answers 503
and is not ready; a failed or malformed fetch keeps the last list; bad entries are skipped and a
bad answer refused whole, without an exception escaping the refresher.

The bound over real processes is tests/e2e/test_revocation_bound.py.
"""

from __future__ import annotations

import functools
import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from fastapi import FastAPI
from pytest_django.fixtures import Settings
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from contracts.revocations import MAX_LIST_BYTES, REVOCATIONS_PATH, bound_s
from contracts.tokens import UNAUTHENTICATED_BODY
from extracted.chassis.web.errors import install_error_handlers
from extracted.chassis.web.health import health_router
from extracted.chassis.web.identity import (
    CurrentCaller,
    PemKeySource,
    TokenVerifier,
)
from extracted.chassis.web.identity_settings import IdentitySettings
from extracted.chassis.web.responses import ContractJSONResponse
from extracted.chassis.web.revocations import ListRefused, RevocationList, parse_list
from monolith.identity.keys import SigningKeys, signing_keys
from monolith.identity.models import User
from monolith.identity.tokens import token_issue
from tests.extracted.asgi_client import BlockingASGIClient
from tests.monolith.factories import make_user

ME = "/me"
URL = f"http://localhost{REVOCATIONS_PATH}"


@pytest.fixture
def monolith_keys(tmp_path: Path, settings: Settings) -> SigningKeys:
    settings.JWT_PRIVATE_KEY_FILE = tmp_path / "keys" / "jwt-private.pem"
    settings.JWT_PUBLIC_KEY_FILE = tmp_path / "keys" / "jwt-public.pem"
    return signing_keys()


@pytest.fixture
def monolith(sync_token: str) -> Iterator[httpx.Client]:
    """The monolith's WSGI app in this process (the test's database and sync token). As Django's
    test client does, requests keep the connection: closing it would end the test's transaction."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        with httpx.Client(transport=httpx.WSGITransport(app=WSGIHandler())) as client:
            yield client
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def _app(revocations: RevocationList, public_key: Path) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.state.token_verifier = TokenVerifier(PemKeySource(public_key), revocations)
    app.include_router(health_router(lambda: sessionmaker(create_engine("sqlite://"))))

    @app.get(ME)
    def me(caller: CurrentCaller) -> ContractJSONResponse:
        return ContractJSONResponse({"id": str(caller.id)})

    return app


@pytest.fixture
def service(
    monolith_keys: SigningKeys, settings: Settings
) -> Iterator[tuple[BlockingASGIClient, RevocationList]]:
    revocations = RevocationList(URL, refresh_s=1)
    client = BlockingASGIClient(_app(revocations, Path(settings.JWT_PUBLIC_KEY_FILE)))
    yield client, revocations
    client.close()


def _bearer(user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_issue(user=user).access_token}"}


def _status(client: BlockingASGIClient, headers: dict[str, str]) -> int:
    answer = client.get(ME, headers=headers)
    if answer.status_code == 401:
        assert answer.json() == UNAUTHENTICATED_BODY
    return answer.status_code


@pytest.mark.django_db
def test_before_a_first_list_tokens_are_a_503_and_the_service_is_not_ready(
    service: tuple[BlockingASGIClient, RevocationList], monolith: httpx.Client
) -> None:
    client, revocations = service
    headers = _bearer(make_user())
    answer = client.get(ME, headers=headers)
    assert (answer.status_code, answer.json()["error"]) == (503, "identity_unavailable")
    ready = client.get("/health/ready")
    assert ready.status_code == 503 and "revocations" in ready.json()["detail"]
    assert client.get(ME).status_code == 401  # no token is still the one 401
    assert revocations.refresh(monolith)
    assert _status(client, headers) == 200
    assert client.get("/health/ready").status_code == 200


@pytest.mark.django_db
def test_deactivated_and_deleted_accounts_are_refused_after_a_refresh_and_no_one_else(
    service: tuple[BlockingASGIClient, RevocationList], monolith: httpx.Client
) -> None:
    client, revocations = service
    deactivated, deleted, other = make_user(), make_user(), make_user()
    tokens = {user.username: _bearer(user) for user in (deactivated, deleted, other)}
    assert revocations.refresh(monolith)
    assert {_status(client, h) for h in tokens.values()} == {200}
    deactivated.is_active = False
    deactivated.save()
    deleted.delete()
    assert revocations.refresh(monolith)
    assert _status(client, tokens[deactivated.username]) == 401
    assert _status(client, tokens[deleted.username]) == 401
    assert _status(client, tokens[other.username]) == 200
    deactivated.is_active = True
    deactivated.save()
    assert _status(client, _bearer(deactivated)) == 200  # a new token, without a refresh
    assert _status(client, tokens[deactivated.username]) == 401


@pytest.mark.django_db
def test_a_failed_fetch_keeps_the_last_list(
    service: tuple[BlockingASGIClient, RevocationList],
    monolith: httpx.Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client, revocations = service
    user = make_user()
    headers = _bearer(user)
    user.is_active = False
    user.save()
    assert revocations.refresh(monolith)

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with (
        httpx.Client(transport=httpx.MockTransport(unreachable)) as nowhere,
        caplog.at_level(logging.ERROR),
    ):
        assert not revocations.refresh(nowhere)
    assert "the last one kept" in caplog.text
    assert _status(client, headers) == 401
    for answer in (
        httpx.Response(500, text="boom"),
        httpx.Response(200, text="not json"),
        httpx.Response(200, json={"revocations": "all"}),
        httpx.Response(200, content=b"[" * 100_000),
        httpx.Response(200, content=b" " * (MAX_LIST_BYTES + 1)),
    ):
        with httpx.Client(transport=httpx.MockTransport(lambda _r, a=answer: a)) as bad:
            assert not revocations.refresh(bad)
        assert _status(client, headers) == 401


@pytest.mark.django_db
def test_the_list_is_not_fetched_without_the_right_sync_token(
    monolith: httpx.Client, sync_token: str, caplog: pytest.LogCaptureFixture
) -> None:
    wrong: str | None = f"not-{sync_token}"
    for token in (wrong, None):
        revocations = RevocationList(URL, token=functools.partial(lambda t: t, token))
        with caplog.at_level(logging.ERROR):
            assert not revocations.refresh(monolith) and not revocations.loaded
    assert "answered 401" in caplog.text and "no sync token configured" in caplog.text


def test_bad_entries_are_skipped_and_the_good_ones_kept() -> None:
    good, twice = uuid.uuid4(), uuid.uuid4()
    body = {
        "revocations": [
            {"sub": str(good), "revoked_at": 100},
            {"sub": str(twice), "revoked_at": 5},
            {"sub": str(twice), "revoked_at": 7},
            {"sub": "not-a-uuid", "revoked_at": 1},
            {"sub": str(uuid.uuid4()), "revoked_at": "100"},
            {"sub": str(uuid.uuid4()), "revoked_at": -1},
            {"sub": str(uuid.uuid4()), "revoked_at": 2**63},
            {"sub": 12, "revoked_at": 1},
            {"sub": str(uuid.uuid4()), "revoked_at": 1, "extra": True},
            {"sub": "x" * 100_000, "revoked_at": 1},
            "not an object",
            None,
        ],
        "as_of": 100,
    }
    huge = f'{{"sub": "{uuid.uuid4()}", "revoked_at": {"9" * 5000}}}'
    raw = json.dumps(body).replace("None]", "").replace("null]", f"null, {huge}]").encode()
    parsed = parse_list(raw)
    assert parsed.entries == {good: 100, twice: 7}
    assert parsed.skipped == 10


@pytest.mark.parametrize(
    "raw",
    [b"", b"null", b"[]", b'{"revocations": {}}', b'{"revocations": NaN}', b"[" * 100_000],
)
def test_an_answer_that_is_no_list_is_refused_whole(raw: bytes) -> None:
    with pytest.raises(ListRefused):
        parse_list(raw)


def test_the_settings_give_the_list_and_its_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRANGLER_REVOCATIONS_URL", f"http://127.0.0.1:8000{REVOCATIONS_PATH}")
    monkeypatch.setenv("STRANGLER_REVOCATIONS_REFRESH_S", "1.5")
    verifier = IdentitySettings().verifier()
    assert verifier.revocations is not None and verifier.revocations.refresh_s == 1.5
    assert bound_s(5) == 7 and bound_s(1.5) == 4
    monkeypatch.delenv("STRANGLER_REVOCATIONS_URL")
    assert IdentitySettings().verifier().revocations is None
    for bad in ("http://127.0.0.1:8000/other", "ftp://x" + REVOCATIONS_PATH):
        monkeypatch.setenv("STRANGLER_REVOCATIONS_URL", bad)
        with pytest.raises(ValueError, match="STRANGLER_REVOCATIONS_URL"):
            IdentitySettings()

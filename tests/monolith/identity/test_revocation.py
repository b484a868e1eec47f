"""Revocation on the monolith (``contracts.revocations``): deactivating, deleting or
re-passwording an account refuses its earlier tokens at once, with the one 401; a token issued
afterwards works at once; other accounts are untouched; the list the services fetch is behind
the sync token and holds only entries that can still refuse a token."""

from __future__ import annotations

import time
import uuid

import pytest
from django.contrib.auth.hashers import make_password
from pytest_django.fixtures import Settings

from contracts.revocations import RETENTION_S, REVOCATIONS_PATH, RevocationList
from contracts.tokens import UNAUTHENTICATED_BODY, WWW_AUTHENTICATE
from monolith.identity.models import TokenRevocation, User
from monolith.identity.tokens import token_issue, token_verify
from tests.monolith.api_client import JsonClient
from tests.monolith.factories import bearer, make_user

pytestmark = pytest.mark.django_db

ME = "/api/auth/me/"
TOKEN = "/api/auth/token/"


def _refused(api: JsonClient, headers: dict[str, str]) -> bool:
    answer = api.get(ME, headers=headers)
    if answer.status == 200:
        return False
    assert (answer.status, answer.body) == (401, UNAUTHENTICATED_BODY)
    assert answer.headers["WWW-Authenticate"] == WWW_AUTHENTICATE
    return True


def test_deactivation_refuses_the_accounts_tokens_at_once_and_no_one_elses(
    api: JsonClient,
) -> None:
    user, other = make_user(), make_user()
    token, others = bearer(user), bearer(other)
    assert not _refused(api, token)
    user.is_active = False
    user.save()
    assert _refused(api, token)
    assert not _refused(api, others)
    with pytest.raises(ValueError, match="inactive"):
        token_issue(user=user)  # nor does anyone mint a new one for it


def test_after_reactivation_a_new_token_works_and_the_old_one_stays_refused(
    api: JsonClient,
) -> None:
    user = make_user(password="correct horse")
    old = bearer(user)
    user.is_active = False
    user.save()
    user.is_active = True
    user.save()  # reactivating revokes nothing more, and brings nothing back
    signed_in = api.post(TOKEN, {"username": user.username, "password": "correct horse"})
    assert signed_in.status == 200
    new = {"Authorization": f"Bearer {signed_in.body['access_token']}"}
    assert not _refused(api, new)  # issued in the revocation's second, yet after it
    assert _refused(api, old)


def test_a_token_issued_in_the_revocations_second_is_issued_after_it() -> None:
    user = make_user()
    now = float(int(time.time()))
    revoked_at = TokenRevocation.record(user.id, now=now + 0.9)
    claims = token_verify(token_issue(user=user, now=now + 0.9).access_token)
    assert claims.iat == revoked_at + 1 and claims.exp - claims.iat == 900


def test_a_password_change_revokes_and_a_hash_upgrade_at_login_does_not(
    api: JsonClient, settings: Settings
) -> None:
    user = make_user(password="first")
    token = bearer(user)
    # A hash of a hasher that is no longer the first: the next login upgrades it (Django saves
    # the account with the new hash), which is no password change.
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "django.contrib.auth.hashers.ScryptPasswordHasher",
    ]
    User.objects.filter(id=user.id).update(password=make_password("first", None, "scrypt"))
    assert api.post(TOKEN, {"username": user.username, "password": "first"}).status == 200
    assert User.objects.get(id=user.id).password.startswith("md5$")  # upgraded
    assert not _refused(api, token)
    user = User.objects.get(id=user.id)
    user.set_password("second")
    user.save()
    assert _refused(api, token)


@pytest.mark.parametrize("how", ["instance", "queryset"])
def test_a_deleted_accounts_tokens_are_refused_by_its_tombstone(api: JsonClient, how: str) -> None:
    user, other = make_user(), make_user()
    token, user_id = bearer(user), user.id
    if how == "instance":
        user.delete()
    else:  # as the admin's bulk "delete selected" does
        User.objects.filter(id=user_id).delete()
    assert not User.objects.filter(id=user_id).exists()
    assert TokenRevocation.objects.filter(sub=user_id).exists()
    assert _refused(api, token)
    assert not _refused(api, bearer(other))


def test_saving_an_account_for_anything_else_revokes_nothing(api: JsonClient) -> None:
    user = make_user()
    token = bearer(user)
    user.first_name = "Ada"
    user.save()
    inactive = make_user()
    inactive.is_active = False
    inactive.save()
    inactive.last_name = "Still inactive"
    inactive.save()
    assert not _refused(api, token)
    assert set(TokenRevocation.objects.values_list("sub", flat=True)) == {inactive.id}


def test_the_list_needs_the_sync_token(api: JsonClient, sync_token: str) -> None:
    for headers in ({}, {"Authorization": f"Bearer not-{sync_token}"}):
        answer = api.post(REVOCATIONS_PATH, {}, headers=headers)
        assert (answer.status, answer.body) == (401, UNAUTHENTICATED_BODY)
    assert api.get(REVOCATIONS_PATH).status == 405  # a POST read, like the other ones


def test_the_list_holds_the_entries_that_can_still_refuse_a_token(
    internal_api: JsonClient,
) -> None:
    now = int(time.time())
    recent, old, older = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    TokenRevocation.objects.create(sub=old, revoked_at=now - RETENTION_S - 5)
    TokenRevocation.objects.create(sub=older, revoked_at=now - RETENTION_S - 50)
    deactivated = make_user()
    deactivated.is_active = False
    deactivated.save()
    TokenRevocation.record(recent, now=now)
    answer = internal_api.post(REVOCATIONS_PATH, {})
    assert answer.status == 200
    listed = RevocationList.model_validate(answer.body)
    assert {(e.sub, e.revoked_at) for e in listed.revocations} >= {(recent, now)}
    assert {e.sub for e in listed.revocations} >= {deactivated.id}
    assert not {old, older} & {e.sub for e in listed.revocations}
    # Recording drops the entries past the retention: the table does not grow for ever.
    assert not TokenRevocation.objects.filter(sub__in=[old, older]).exists()


def test_a_later_revocation_never_moves_an_entry_back() -> None:
    sub = uuid.uuid4()
    now = int(time.time())
    assert TokenRevocation.record(sub, now=now) == now
    assert TokenRevocation.record(sub, now=now - 100) == now
    assert TokenRevocation.record(sub, now=now + 3) == now + 3

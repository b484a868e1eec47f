"""``manage.py issue_token``: a token for an account, or a one-line refusal."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from monolith.identity.models import User
from monolith.identity.tokens import token_verify
from tests.monolith.factories import make_user
from tests.support.random_refs import random_suffix

pytestmark = pytest.mark.django_db


def _issue(*args: str) -> str:
    out = StringIO()
    call_command("issue_token", *args, stdout=out)
    return out.getvalue().strip()


def test_prints_a_token_of_an_existing_account() -> None:
    user = make_user()
    claims = token_verify(_issue(user.username))
    assert (claims.sub, claims.staff) == (user.id, False)


def test_create_makes_a_staff_account_without_a_usable_password() -> None:
    claims = token_verify(_issue("ops", "--create", "--staff", "--ttl-s", "60"))
    user = User.objects.get(username="ops")
    assert (claims.sub, claims.staff, claims.exp - claims.iat) == (user.id, True, 60)
    assert not user.has_usable_password()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nobody",), "no account named 'nobody' (add --create to make one)"),
        (("nobody", "--create", "--ttl-s", "0"), "--ttl-s must be 1 to 86400, got 0"),
        (("nobody", "--create", "--ttl-s", "86401"), "--ttl-s must be 1 to 86400, got 86401"),
    ],
)
def test_refusals_are_one_line_and_create_nothing(args: tuple[str, ...], message: str) -> None:
    with pytest.raises(CommandError, match=re.escape(message)):
        _issue(*args)
    assert not User.objects.filter(username="nobody").exists()


def test_several_accounts_get_one_token_a_line_in_the_order_given() -> None:
    existing = make_user()
    lines = _issue("shopper-b", existing.username, "shopper-a", "--create").splitlines()
    subjects = [token_verify(line).sub for line in lines]
    by_name = {u.username: u.id for u in User.objects.all()}
    assert subjects == [by_name["shopper-b"], existing.id, by_name["shopper-a"]]


def test_a_refusal_among_several_accounts_creates_none_of_them() -> None:
    inactive = make_user(username=f"inactive-{random_suffix()}")
    inactive.is_active = False
    inactive.save()
    with pytest.raises(CommandError, match="is inactive"):
        _issue("fresh-one", inactive.username, "--create")
    assert not User.objects.filter(username="fresh-one").exists()

"""The revocation bound over real processes (``contracts.revocations``): the monolith, the payments
and the orders service as the stack runs them (its command lines and environment, a refresh every
second). An account deactivated or deleted through the monolith's ORM (as the admin does it) has
its token refused by the monolith at once and by each service within ``bound_s(refresh_s)`` of
the commit; other accounts keep working; a token issued after reactivation works everywhere.

The bound is checked with the clock only as the upper limit of the wait: each owner is asked
until it refuses, and the deadline is the commit's time plus the bound.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from contracts.revocations import bound_s
from contracts.tokens import UNAUTHENTICATED_BODY
from strangler.stack import Ports
from tests.support.components import StackUrls, running, whole_stack_environment
from tests.support.processes import manage
from tests.support.random_refs import random_suffix
from tests.support.waiting import wait_for

REFRESH_S = 1.0
#: Each owner that verifies tokens, and a path of it that needs one.
OWNERS = {"monolith": "/api/auth/me/", "payments": "/api/payments/", "orders": "/api/orders/"}


@dataclass
class Rig(StackUrls):
    ports: Ports
    env: dict[str, str]

    def manage(self, *argv: str) -> str:
        return manage(self.env, *argv)

    def tokens(self, *usernames: str) -> dict[str, str]:
        """A token of each account (created when missing), as ``issue_token`` prints them."""
        printed = self.manage("issue_token", *usernames, "--create").splitlines()
        return dict(zip(usernames, printed, strict=True))

    def change(self, username: str, code: str) -> tuple[float, list[str]]:
        """Run ``code`` on the account ``user`` through the ORM (``token_issue`` at hand): the
        time it was committed, and the lines it printed."""
        script = (
            "import time; from monolith.identity.models import User; "
            "from monolith.identity.tokens import token_issue; "
            f"user = User.objects.get(username={username!r}); {code}; print(time.time())"
        )
        *printed, committed = self.manage("shell", "-v", "0", "-c", script).splitlines()
        return float(committed), printed

    def status(self, owner: str, token: str) -> int:
        url = f"{self.owner_url(owner)}{OWNERS[owner]}"
        answer = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        if answer.status_code == 401:
            assert answer.json() == UNAUTHENTICATED_BODY
        return answer.status_code

    def refuses(self, owner: str, token: str) -> bool:
        return self.status(owner, token) == 401

    def owner_url(self, owner: str) -> str:
        return str(getattr(self, f"{owner}_url"))

    def refused_everywhere_by(self, token: str, deadline: float) -> None:
        """Each owner refuses ``token`` before ``deadline`` (wall clock, as the commit's time)."""
        for owner in OWNERS:
            wait_for(
                functools.partial(self.refuses, owner, token),
                timeout=max(0.0, deadline - time.time()),
                interval=0.05,
                message=f"{owner} to refuse the revoked token within the bound",
            )


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Rig]:
    tmp = tmp_path_factory.mktemp("revocation")
    with whole_stack_environment(tmp, redis_url, "rev", migrated=True) as (ports, env):
        env["STRANGLER_REVOCATIONS_REFRESH_S"] = str(REFRESH_S)
        with running(["monolith", "payments", "orders"], ports=ports, env=env, log_dir=tmp):
            yield Rig(ports=ports, env=env)


def _names(*roles: str) -> list[str]:
    return [f"{role}-{random_suffix()}" for role in roles]


def test_a_deactivated_account_is_refused_everywhere_within_the_bound(rig: Rig) -> None:
    user, other = _names("leaver", "stayer")
    tokens = rig.tokens(user, other)
    assert {rig.status(o, t) for o in OWNERS for t in tokens.values()} == {200}
    committed, _ = rig.change(user, "user.is_active = False; user.save()")
    assert rig.status("monolith", tokens[user]) == 401  # the monolith: at once
    rig.refused_everywhere_by(tokens[user], committed + bound_s(REFRESH_S))
    assert {rig.status(o, tokens[other]) for o in OWNERS} == {200}
    reactivated = "user.is_active = True; user.save(); print(token_issue(user=user).access_token)"
    _, [fresh] = rig.change(user, reactivated)
    assert {rig.status(o, fresh) for o in OWNERS} == {200}
    assert {rig.status(o, tokens[user]) for o in OWNERS} == {401}


def test_a_deleted_account_is_refused_everywhere_within_the_bound(rig: Rig) -> None:
    (user,) = _names("deleted")
    token = rig.tokens(user)[user]
    assert {rig.status(o, token) for o in OWNERS} == {200}
    committed, _ = rig.change(user, "user.delete()")
    assert rig.status("monolith", token) == 401
    rig.refused_everywhere_by(token, committed + bound_s(REFRESH_S))

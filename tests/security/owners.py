"""Every owner as real processes, and the proxy in front of them, for the security suites: the
monolith, the inventory, payments and orders services (the stack's own command lines) on fresh
migrated PostgreSQL databases, and a proxy whose route file sends a request to the owner its
``X-Security-Owner`` header names (no header: the monolith, as the default table does).

So one probe runs against each owner directly and through the proxy: ``Rig.targets()`` lists the
(owner, base URL, extra headers) of both ways. Tokens are signed with the monolith's own private
key file and name its ``kid``, exactly as the monolith issues them; ``token`` takes any claim or
header override so a probe can build what an attacker holding a real signature could.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts.sync_token import SYNC_TOKEN_ENV
from contracts.tokens import ALGORITHM, AUDIENCE, ISSUER
from monolith.identity.keys import thumbprint
from strangler.stack import Ports, stack_environment
from tests.proxy.harness import routes_yaml
from tests.support.components import StackUrls, free_ports, running
from tests.support.database_templates import fresh_owner_databases
from tests.support.processes import REPO_ROOT, manage
from tests.support.random_refs import random_suffix

OWNER_HEADER = "X-Security-Owner"
OWNERS = ("monolith", "inventory", "payments", "orders")
SERVICE_ACCOUNT = "orders-service"

#: Each owner's public paths (contracts/openapi.yaml): the monolith answers all of them.
OWNED_PREFIXES = {
    "monolith": ("/api/auth/", "/api/inventory/", "/api/payments/", "/api/orders/"),
    "inventory": ("/api/inventory/",),
    "payments": ("/api/payments/",),
    "orders": ("/api/orders/",),
}


@dataclass(frozen=True)
class Target:
    """One way to reach an owner: directly, or through the proxy with the routing header."""

    owner: str
    url: str
    headers: dict[str, str]
    via_proxy: bool

    @property
    def label(self) -> str:
        return f"{self.owner}{' via proxy' if self.via_proxy else ''}"

    def owns(self, path: str) -> bool:
        return path.startswith(OWNED_PREFIXES[self.owner])


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64(value: dict[str, Any]) -> str:
    return _b64url(json.dumps(value, separators=(",", ":")).encode())


def _routes(ports: Ports) -> str:
    upstreams = {
        "monolith": {"url": f"http://127.0.0.1:{ports.monolith}", "timeout_s": 15},
        "inventory": {"url": f"http://127.0.0.1:{ports.inventory}", "timeout_s": 15},
        "payments": {"url": f"http://127.0.0.1:{ports.payments}", "timeout_s": 15},
        "orders": {"url": f"http://127.0.0.1:{ports.orders}", "timeout_s": 15},
    }
    routes = [
        {
            "name": f"to-{name}",
            "match": {"path_prefix": "/api/", "headers": {OWNER_HEADER: name}},
            "mode": "extracted",
            "target": name,
        }
        for name in ("inventory", "payments", "orders")
    ]
    routes.append({"name": "to-monolith", "match": {"path_prefix": "/api/"}, "mode": "monolith"})
    return routes_yaml(upstreams, routes)


@dataclass
class Rig(StackUrls):
    ports: Ports
    env: dict[str, str]
    var: Path
    private_key: Ed25519PrivateKey = field(repr=False)

    @property
    def kid(self) -> str:
        return thumbprint(self.private_key.public_key())

    def owner_url(self, owner: str) -> str:
        return str(getattr(self, f"{owner}_url"))

    def targets(self, *, owners: tuple[str, ...] = OWNERS) -> list[Target]:
        """Each owner directly, then each owner through the proxy."""
        direct = [Target(o, self.owner_url(o), {}, False) for o in owners]
        proxied = [
            Target(o, self.proxy_url, {} if o == "monolith" else {OWNER_HEADER: o}, True)
            for o in owners
        ]
        return direct + proxied

    def claims(self, sub: uuid.UUID | str | None = None, *, staff: bool = False) -> dict[str, Any]:
        now = int(time.time())
        sub = sub or uuid.uuid4()
        return {
            "sub": str(sub),
            "username": f"user-{sub}",
            "staff": staff,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
        }

    def token(
        self,
        claims: dict[str, Any] | None = None,
        *,
        headers: dict[str, Any] | None = None,
        key: Ed25519PrivateKey | None = None,
    ) -> str:
        """A token signed with the monolith's key (or ``key``) over ``claims`` (default: a
        customer's, valid for five minutes), with the monolith's ``kid`` unless ``headers`` say
        otherwise (``{"kid": None}`` leaves it out)."""
        header: dict[str, Any] = {"alg": ALGORITHM, "typ": "JWT", "kid": self.kid}
        header.update(headers or {})
        header = {k: v for k, v in header.items() if v is not None}
        # Signed by hand (RFC 7515 compact form): PyJWT would refuse to write a ``kid`` that is
        # not a string, and a probe must be able to.
        signing_input = f"{_b64(header)}.{_b64(claims or self.claims())}".encode("ascii")
        signature = (key or self.private_key).sign(signing_input)
        return f"{signing_input.decode('ascii')}.{_b64url(signature)}"

    def bearer(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def staff(self) -> dict[str, str]:
        return self.bearer(self.token(self.claims(staff=True)))

    def manage(self, *argv: str) -> str:
        """``monolith/manage.py`` in the rig's environment; its standard output."""
        return manage(self.env, *argv)


#: The processes of the rig: every owner and the proxy.
ALL = ("monolith", "inventory", "payments", "orders", "proxy")
#: Throttles of the token endpoint high enough that the suites sharing one rig never meet them
#: (their own test starts a rig with the stack's rates).
UNTHROTTLED = {
    "STRANGLER_TOKEN_RATE_CLIENT": "100000/min",
    "STRANGLER_TOKEN_RATE_USER": "100000/min",
}


@contextmanager
def running_owners(
    tmp: Path, *, names: tuple[str, ...] = ALL, env: dict[str, str] | None = None
) -> Iterator[Rig]:
    with ExitStack() as stack:
        databases = stack.enter_context(fresh_owner_databases("sec", migrated=True))
        var = tmp / "var"
        var.mkdir(parents=True)
        ports = free_ports()
        routes_file = var / "routes.yaml"
        routes_file.write_text(_routes(ports), encoding="utf-8")
        password = f"pw-{random_suffix()}"
        extra_env = env or {}
        env = stack_environment(
            ports,
            base={
                **os.environ,
                "STRANGLER_VAR_DIR": str(var),
                **databases,
                "PROXY_ROUTES_FILE": str(routes_file),
                "PROXY_ADMIN_TOKEN": f"sec-{random_suffix()}",
                "PROXY_DIFF_DATABASE_URL": f"sqlite:///{var / 'proxy.sqlite3'}",
                "STRANGLER_SERVICE_ACCOUNT_PASSWORD": password,
                "ORDERS_SERVICE_USERNAME": SERVICE_ACCOUNT,
                "ORDERS_SERVICE_PASSWORD": password,
                # As `strangler up` writes one: the services fetch the revocation list with it.
                SYNC_TOKEN_ENV: f"sec-sync-{random_suffix()}",
                **extra_env,
            },
        )
        env.pop("ORDERS_SERVICE_TOKEN", None)
        done = subprocess.run(
            [sys.executable, "monolith/manage.py", "ensure_service_account", SERVICE_ACCOUNT],
            env=env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        stack.enter_context(running(list(names), ports=ports, env=env, log_dir=tmp / "logs"))
        # The monolith writes its key pair on first use; the JWKS asks for it.
        jwks = httpx.get(f"http://127.0.0.1:{ports.monolith}/api/auth/jwks/", timeout=10)
        assert jwks.status_code == 200, jwks.text
        private_key = serialization.load_pem_private_key(
            (var / "keys" / "jwt-private.pem").read_bytes(), password=None
        )
        assert isinstance(private_key, Ed25519PrivateKey)
        yield Rig(ports=ports, env=env, var=var, private_key=private_key)

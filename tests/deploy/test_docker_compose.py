"""docker-compose.yml is checked statically (there is no Docker engine here): it parses, each of
our services starts a real entry point, every variable it sets is read by our settings, and the
one-role-per-database rule it relies on really holds on PostgreSQL."""

from __future__ import annotations

import copy
import re
import uuid
from typing import Any

import psycopg
import pytest
from django.core.management import get_commands
from ruamel.yaml import YAML

from contracts.sync_token import SYNC_TOKEN_ENV
from proxy.config import RouteTable, Upstream, load_route_table
from strangler.stack import Ports, stack_processes
from tests.deploy.compose_check import (
    RESTARTING,
    database_url_owner,
    entry_point_problem,
    env_vars_read_by_code,
    healthcheck_problems,
    our_services,
)
from tests.support.postgres import ADMIN_URL
from tests.support.processes import REPO_ROOT

IMAGE_VARS = {"PYTHONUNBUFFERED"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = YAML(typ="safe").load((REPO_ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def test_every_process_of_the_stack_is_a_service(compose: dict[str, Any]) -> None:
    services = set(our_services(compose))
    expected = {
        "monolith",
        "inventory",
        "payments",
        "orders",
        "proxy",
        "worker-monolith",
        "worker-inventory",
        "worker-payments",
        "worker-orders",
        "relay",
        "relay-services",
    }
    assert expected <= services
    assert {"postgres", "redis"} <= set(compose["services"])


def test_long_running_services_restart_and_report_health(compose: dict[str, Any]) -> None:
    """As under `strangler up`, a process that dies comes back while the others keep serving:
    each long-running service restarts and has a health check; only the one-shot jobs (a
    management command that runs to its end: migrate, seed, the service account) do not."""
    services = our_services(compose)
    one_shot = {name for name, svc in services.items() if svc.get("restart") == "no"}
    for name in one_shot:
        assert services[name]["command"][:2] == ["python", "monolith/manage.py"], name
    waited_for = {
        dep
        for svc in compose["services"].values()
        for dep, cond in (svc.get("depends_on") or {}).items()
        if cond.get("condition") == "service_completed_successfully"
    }
    assert waited_for <= one_shot, "a job others wait for would run again and again"
    for name in set(services) - one_shot:
        assert services[name].get("restart") in RESTARTING, f"{name} is not restarted when it dies"
        assert "healthcheck" in services[name], f"{name} has no health check"
    supervised = {spec.name for spec in stack_processes(Ports())}
    assert supervised <= set(services) - one_shot


def test_health_checks_ask_the_service_they_belong_to(compose: dict[str, Any]) -> None:
    problems = [
        problem
        for name, svc in our_services(compose).items()
        if "healthcheck" in svc
        for problem in healthcheck_problems(name, compose)
    ]
    assert problems == []


def test_the_health_check_check_can_fail(compose: dict[str, Any]) -> None:
    broken = copy.deepcopy(compose)
    services = broken["services"]
    services["inventory"]["healthcheck"]["test"][-1] = services["inventory"]["healthcheck"]["test"][
        -1
    ].replace("8101", "8102")
    services["relay"]["healthcheck"]["test"][-1] = services["relay"]["healthcheck"]["test"][
        -1
    ].replace("monolith:8000", "orders:8103")
    services["worker-orders"]["healthcheck"]["test"][3] = "sync.payments_worker"
    assert healthcheck_problems("inventory", broken) == [
        "inventory: checks port 8102, listens on {8101}"
    ]
    assert healthcheck_problems("relay", broken) == [
        "relay: checks orders, which it does not depend on"
    ]
    assert len(healthcheck_problems("worker-orders", broken)) == 1


def test_each_service_command_names_a_real_entry_point(compose: dict[str, Any]) -> None:
    django_commands = set(get_commands())
    problems = {
        name: entry_point_problem(svc["command"], django_commands)
        for name, svc in our_services(compose).items()
    }
    assert {k: v for k, v in problems.items() if v} == {}


def test_the_entry_point_check_can_fail() -> None:
    django_commands = set(get_commands())
    assert entry_point_problem(["python", "-m", "proxy_missing"], django_commands)
    assert entry_point_problem(["uvicorn", "extracted.inventory.main:nope"], django_commands)
    assert entry_point_problem(["python", "monolith/manage.py", "no_such_cmd"], django_commands)


def test_every_variable_set_is_read_by_the_settings(compose: dict[str, Any]) -> None:
    read = env_vars_read_by_code()
    unread = {
        f"{name}:{var}"
        for name, svc in our_services(compose).items()
        for var in svc.get("environment", {})
        if var not in read and var not in IMAGE_VARS
    }
    assert unread == set()
    assert "BOGUS_SETTING_NOBODY_READS" not in read


def test_each_service_uses_its_own_role_and_database(compose: dict[str, Any]) -> None:
    for name, svc in our_services(compose).items():
        for var, value in svc.get("environment", {}).items():
            if str(value).startswith("postgresql://"):
                role, database = database_url_owner(str(value))
                assert role == database, f"{name}:{var} connects as {role} to {database}"


def test_init_sql_keeps_each_role_out_of_the_other_databases() -> None:
    """Run deploy/postgres/init.sql (names made unique) on the real server and try to cross over."""
    suffix = uuid.uuid4().hex[:8]
    owners = ("monolith", "inventory", "payments", "orders", "proxy")
    sql = (REPO_ROOT / "deploy/postgres/init.sql").read_text()
    for owner in owners:
        sql = re.sub(rf"\b{owner}\b", f"{owner}_{suffix}", sql)
    base = ADMIN_URL.rsplit("/", 1)[0].replace("postgres@", "{role}@")
    try:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            for statement in filter(None, (s.strip() for s in sql.split(";"))):
                lines = [ln for ln in statement.splitlines() if not ln.startswith("--")]
                if lines:
                    admin.execute("\n".join(lines))
        for owner in owners:
            role, own_db = f"{owner}_{suffix}", f"{owner}_{suffix}"
            with psycopg.connect(f"{base.format(role=role)}/{own_db}") as conn:
                assert conn.execute("SELECT current_user").fetchone() == (role,)
            for other in owners:
                if other == owner:
                    continue
                with pytest.raises(psycopg.OperationalError, match="permission denied"):
                    psycopg.connect(f"{base.format(role=role)}/{other}_{suffix}").close()
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            for owner in owners:
                admin.execute(f'DROP DATABASE IF EXISTS "{owner}_{suffix}" WITH (FORCE)')
            for owner in owners:
                admin.execute(f'DROP ROLE IF EXISTS "{owner}_{suffix}"')


def test_the_compose_route_template_is_the_default_table_at_compose_addresses(
    compose: dict[str, Any],
) -> None:
    template = compose["services"]["proxy"]["environment"]["PROXY_ROUTES_TEMPLATE"]
    assert template.startswith("/app/")  # the image's WORKDIR (Dockerfile)
    in_compose = load_route_table(REPO_ROOT / template.removeprefix("/app/"))
    default = load_route_table(REPO_ROOT / "proxy" / "routes.default.yaml")
    assert in_compose.routes == default.routes
    assert {name: u.url for name, u in in_compose.upstreams.items()} == {
        "monolith": "http://monolith:8000",
        "inventory": "http://inventory:8101",
        "payments": "http://payments:8102",
        "orders": "http://orders:8103",
    }

    def without_urls(table: RouteTable) -> dict[str, Upstream]:
        return {n: u.model_copy(update={"url": ""}) for n, u in table.upstreams.items()}

    assert without_urls(in_compose) == without_urls(default)


def test_only_the_monolith_mounts_the_private_signing_key(compose: dict[str, Any]) -> None:
    """Services verify tokens with the public key; none of them can sign one."""
    mounting = {
        name
        for name, service in compose["services"].items()
        for volume in service.get("volumes", [])
        if str(volume).startswith("jwt-private:")
    }
    assert mounting == {"monolith"}
    env = compose["services"]["monolith"]["environment"]
    private_dir = env["STRANGLER_JWT_PRIVATE_KEY_FILE"].rsplit("/", 1)[0]
    assert f"jwt-private:{private_dir}" in compose["services"]["monolith"]["volumes"]


def test_the_owners_and_the_facade_and_only_they_hold_one_sync_token(
    compose: dict[str, Any],
) -> None:
    """Each owner's server checks the sync token on its internal writes (contracts.sync_token),
    so each has it, the same one, and so does the proxy, which lets an internal caller's dry run
    through with it (proxy/internal_callers.py); workers and relays call none of those
    endpoints, so none of them holds it."""
    services = our_services(compose)
    servers = {
        name for name, svc in services.items() if svc["command"][0] in ("gunicorn", "uvicorn")
    }
    holding = {
        name: svc["environment"][SYNC_TOKEN_ENV]
        for name, svc in services.items()
        if SYNC_TOKEN_ENV in svc.get("environment", {})
    }
    assert servers == {"monolith", "inventory", "payments", "orders"}
    assert set(holding) == servers | {"proxy"}
    assert len(set(holding.values())) == 1

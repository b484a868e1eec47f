"""Static checks of docker-compose.yml (no Docker engine runs here): entry points and env vars."""

from __future__ import annotations

import ast
import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.support.processes import REPO_ROOT, VENV_BIN

OUR_PACKAGES = (
    "contracts",
    "monolith",
    "extracted",
    "proxy",
    "sync",
    "migrations_plan",
    "strangler",
)
_ENV_CALLS = {("os", "getenv"), ("environ", "get"), ("environ", "setdefault"), ("environ", "pop")}


def _python_files() -> Iterator[Path]:
    for package in OUR_PACKAGES:
        for path in (REPO_ROOT / package).rglob("*.py"):
            if "migrations" not in path.parts and "versions" not in path.parts:
                yield path


def _settings_prefix(cls: ast.ClassDef) -> str | None:
    """The env_prefix set by a settings class body (`model_config = SettingsConfigDict(...)`)."""
    for node in cls.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            if "model_config" in names and isinstance(node.value, ast.Call):
                for kw in node.value.keywords:
                    if kw.arg == "env_prefix" and isinstance(kw.value, ast.Constant):
                        return str(kw.value.value)
    return None


def _alias_names(call: ast.Call) -> set[str]:
    """Names in ``Field(validation_alias="X")`` and ``AliasChoices("X", ...)`` (pydantic-settings
    reads the environment variable of that name)."""
    func = ast.unparse(call.func)
    if func.endswith("AliasChoices"):
        return {str(a.value) for a in call.args if isinstance(a, ast.Constant)}
    return {
        str(kw.value.value)
        for kw in call.keywords
        if kw.arg == "validation_alias" and isinstance(kw.value, ast.Constant)
    }


def _is_settings_class(cls: ast.ClassDef) -> bool:
    return any("Settings" in ast.unparse(base) for base in cls.bases)


def env_vars_read_by_code() -> set[str]:
    """Every environment variable name our code reads: os.environ/getenv literals, pydantic
    validation aliases, and the fields of pydantic-settings classes (prefix + field name,
    upper-cased), including inherited fields of settings base classes within our code."""
    names: set[str] = set()
    classes: dict[str, ast.ClassDef] = {}
    for path in _python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
                func = node.func
                if isinstance(func, ast.Attribute):
                    owner = func.value
                    owner_name = (
                        owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
                    )
                    if (owner_name, func.attr) in _ENV_CALLS:
                        names.add(str(node.args[0].value))
            elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
                if ast.unparse(node.value).endswith("environ"):
                    names.add(str(node.slice.value))
            elif isinstance(node, ast.ClassDef):
                classes[node.name] = node
            if isinstance(node, ast.Call):
                names |= _alias_names(node)

    def fields(cls: ast.ClassDef) -> set[str]:
        own = {
            n.target.id
            for n in cls.body
            if isinstance(n, ast.AnnAssign)
            and isinstance(n.target, ast.Name)
            and n.target.id != "model_config"
        }
        for base in cls.bases:
            parent = classes.get(ast.unparse(base).split(".")[-1])
            if parent is not None and parent is not cls:
                own |= fields(parent)
        return own

    for cls in classes.values():
        if _is_settings_class(cls):
            prefix = _settings_prefix(cls) or ""
            names |= {f"{prefix}{field}".upper() for field in fields(cls)}
    return names


def _module_defines(module: str, attr: str) -> bool:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return False
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == attr for t in node.targets
        ):
            return True
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and node.target.id == attr
        ):
            return True
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name == attr:
            return True
    return False


def entry_point_problem(command: list[str], django_commands: set[str]) -> str | None:
    """None when ``command`` starts one of our real entry points, else what is wrong with it."""
    program, *args = command
    if program == "python":
        if args[:1] == ["-m"]:
            module = args[1]
            main = f"{module}.__main__"
            spec = importlib.util.find_spec(module)
            is_package = spec is not None and spec.submodule_search_locations is not None
            if spec is None or (is_package and importlib.util.find_spec(main) is None):
                return f"python -m {module}: no such runnable module"
            return None
        if args[:1] == ["-c"]:
            return None
        script = REPO_ROOT / args[0]
        if not script.is_file():
            return f"python {args[0]}: no such file"
        if script.name == "manage.py" and args[1] not in django_commands:
            return f"manage.py {args[1]}: no such management command"
        return None
    if not (VENV_BIN / program).exists():
        return f"{program}: not a console script the project installs"
    if program in {"gunicorn", "uvicorn"}:
        target = next(a for a in args if ":" in a and not a.startswith("-") and "." in a)
        module, attr = target.split(":")
        return None if _module_defines(module, attr) else f"{program} {target}: not defined"
    if program == "celery":
        module = args[args.index("-A") + 1]
        return None if _module_defines(module, "app") else f"celery -A {module}: no 'app' there"
    return None


def our_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Services that run our image (the others are stock postgres/redis images)."""
    return {
        name: svc
        for name, svc in compose["services"].items()
        if "build" in svc or str(svc.get("image", "")).startswith("strangler-fig")
    }


def database_url_owner(url: str) -> tuple[str, str]:
    """(role, database) of a postgresql:// URL."""
    match = re.match(r"postgresql://([^:@]+)(?::[^@]*)?@[^/]+/([^?]+)", url)
    assert match, url
    return match.group(1), match.group(2)


RESTARTING = {"always", "unless-stopped", "on-failure"}
_URL = re.compile(r"http://([\w.-]+):(\d+)(/[^'\"\s]*)?")


def listening_ports(svc: dict[str, Any]) -> set[int]:
    """The ports a service's command (``--port N``, ``--bind host:N``) or environment
    (``*_LISTEN: host:N``) listens on."""
    command = [str(part) for part in svc.get("command", [])]
    ports = {
        int(command[i + 1].rsplit(":", 1)[-1])
        for i, part in enumerate(command[:-1])
        if part in {"--port", "--bind"}
    }
    for var, value in (svc.get("environment") or {}).items():
        if str(var).endswith("_LISTEN"):
            ports.add(int(str(value).rsplit(":", 1)[-1]))
    return ports


def healthcheck_problems(name: str, compose: dict[str, Any]) -> list[str]:
    """What is wrong with service ``name``'s health check: each URL it asks is a port the service
    itself listens on (127.0.0.1) or a service it depends on, at that service's port; a Celery
    ping names the worker's own app and node."""
    services = compose["services"]
    svc = services[name]
    test = [str(part) for part in svc["healthcheck"]["test"]]
    problems = []
    if test[0] not in {"CMD", "CMD-SHELL"}:
        problems.append(f"{name}: test starts with {test[0]!r}, not CMD or CMD-SHELL")
    for host, port, _path in _URL.findall(" ".join(test)):
        if host in {"127.0.0.1", "localhost"}:
            if int(port) not in listening_ports(svc):
                problems.append(f"{name}: checks port {port}, listens on {listening_ports(svc)}")
        elif host not in (svc.get("depends_on") or {}):
            problems.append(f"{name}: checks {host}, which it does not depend on")
        elif int(port) not in listening_ports(services[host]):
            problems.append(f"{name}: checks {host}:{port}, {host} listens elsewhere")
    if "celery" in test:
        command = [str(part) for part in svc["command"]]
        app = command[command.index("-A") + 1]
        node = command[command.index("-n") + 1].replace("%h", "$$HOSTNAME")
        if test[test.index("-A") + 1] != app or test[test.index("-d") + 1] != node:
            problems.append(f"{name}: pings another app or node than it runs ({app}, {node})")
    if not _URL.search(" ".join(test)) and "celery" not in test:
        problems.append(f"{name}: checks neither a URL nor a worker")
    return problems

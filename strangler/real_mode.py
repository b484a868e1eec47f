"""Real mode's databases: one PostgreSQL database and one login role per owner, each database
owned by its role and closed to every other role, and the URL each owner's processes use.

`strangler up --real` calls :func:`provision` before anything starts. It checks first, then
creates: a role that exists but cannot log in, or is a superuser (it would pass every CONNECT
check), or a database owned by another role, stops it before anything is created; a failure
while creating drops what that run created. A second run creates nothing and says so.

Passwords: each role logs in with a password generated once and kept in
``$VAR/postgres-passwords.json`` (owner-only). A server whose pg_hba trusts local connections
does not check them, but it does check CONNECT privileges, which are what keeps one owner's role
out of another owner's database here.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from proxy.atomic_file import write_atomically

DEFAULT_POSTGRES_URL: Final = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL: Final = "redis://127.0.0.1:6379/0"
DEFAULT_PREFIX: Final = "strangler_"

#: Each owner of a database, and the variable its processes read that database's URL from.
OWNER_URL_VARIABLES: Final = {
    "monolith": "DATABASE_URL",
    "inventory": "INVENTORY_DATABASE_URL",
    "payments": "PAYMENTS_DATABASE_URL",
    "orders": "ORDERS_DATABASE_URL",
    # The proxy's diff store: in PostgreSQL, every proxy replica can share it.
    "proxy": "PROXY_DIFF_DATABASE_URL",
}

PASSWORDS_FILE_NAME: Final = "postgres-passwords.json"

#: A prefix that needs no quoting anywhere and leaves room for the longest owner name within
#: PostgreSQL's 63-byte identifiers.
_PREFIX_PATTERN: Final = re.compile(r"[a-z_][a-z0-9_]{0,40}")
_CONNECT_TIMEOUT_S: Final = 5


class RealModeError(Exception):
    """Real mode cannot start; the message is one line, for stderr."""


@dataclass(frozen=True)
class Provisioned:
    """What :func:`provision` did (``report``, one line each) and each owner's database URL."""

    report: list[str]
    urls: dict[str, str]


def owner_names(prefix: str) -> dict[str, str]:
    """Owner → the name of both its database and its role."""
    if not _PREFIX_PATTERN.fullmatch(prefix):
        raise RealModeError(
            f"database prefix {prefix!r}: use lower-case letters, digits and underscores, "
            "starting with a letter or underscore, at most 41 characters"
        )
    return {owner: f"{prefix}{owner}" for owner in OWNER_URL_VARIABLES}


def redacted(url: str) -> str:
    """``url`` without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = f"{parts.username}:***@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=f"{user}{host}"))


def owner_url(admin_url: str, name: str, password: str) -> str:
    """The URL of database ``name`` as role ``name`` on the admin URL's server."""
    parts = urlsplit(admin_url)
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{quote(name, safe='')}:{quote(password, safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=netloc, path=f"/{name}"))


def check_redis(url: str) -> None:
    """Raise :class:`RealModeError` unless the Redis at ``url`` answers a PING."""
    import redis  # only real mode needs the client

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=_CONNECT_TIMEOUT_S)
    except ValueError as err:
        raise RealModeError(f"Redis URL {redacted(url)!r}: {err}") from None
    try:
        client.ping()
    except redis.RedisError as err:
        raise RealModeError(f"Redis is not reachable at {redacted(url)}: {err}") from None
    finally:
        client.close()


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _connect_admin(admin_url: str) -> psycopg.Connection[Any]:
    if urlsplit(admin_url).scheme not in {"postgresql", "postgres"}:
        raise RealModeError(
            f"PostgreSQL URL {redacted(admin_url)!r}: give a postgresql://user@host:port/db URL"
        )
    try:
        return psycopg.connect(admin_url, autocommit=True, connect_timeout=_CONNECT_TIMEOUT_S)
    except psycopg.Error as err:
        raise RealModeError(
            f"PostgreSQL is not reachable at {redacted(admin_url)}: {_first_line(err)}"
        ) from None


@dataclass(frozen=True)
class _Existing:
    """What the server already holds under one owner's name."""

    role_can_login: bool | None  # None: no such role
    role_is_superuser: bool
    database_owner: str | None  # None: no such database
    public_can_connect: bool


def _inspect(conn: psycopg.Connection[Any], name: str) -> _Existing:
    role = conn.execute(
        "SELECT rolcanlogin, rolsuper FROM pg_roles WHERE rolname = %s", (name,)
    ).fetchone()
    database = conn.execute(
        "SELECT pg_get_userbyid(datdba), has_database_privilege('public', oid, 'CONNECT')"
        " FROM pg_database WHERE datname = %s",
        (name,),
    ).fetchone()
    return _Existing(
        role_can_login=None if role is None else bool(role[0]),
        role_is_superuser=role is not None and bool(role[1]),
        database_owner=None if database is None else str(database[0]),
        public_can_connect=database is not None and bool(database[1]),
    )


def _refuse_clashes(conn: psycopg.Connection[Any], names: dict[str, str]) -> dict[str, _Existing]:
    """Every owner's name as the server holds it; :class:`RealModeError` on the first that
    provisioning cannot use as it is, before anything is created."""
    privileges = conn.execute(
        "SELECT rolsuper, rolcreaterole AND rolcreatedb FROM pg_roles WHERE rolname = current_user"
    ).fetchone()
    if privileges is None or not (privileges[0] or privileges[1]):
        raise RealModeError(
            "the PostgreSQL role of the admin URL cannot create roles and databases"
            " (it needs SUPERUSER, or CREATEROLE and CREATEDB)"
        )
    found: dict[str, _Existing] = {}
    for name in names.values():
        existing = _inspect(conn, name)
        if existing.role_can_login is False:
            raise RealModeError(
                f"role {name} exists but cannot log in (NOLOGIN); drop or rename it"
            )
        if existing.role_is_superuser:
            raise RealModeError(
                f"role {name} exists and is a superuser, which passes every CONNECT check;"
                " use another --db-prefix"
            )
        if existing.database_owner not in (None, name):
            raise RealModeError(
                f"database {name} exists, owned by {existing.database_owner} instead of {name};"
                " use another --db-prefix"
            )
        if existing.database_owner is not None and existing.role_can_login is None:
            raise RealModeError(f"database {name} exists without its role {name}")
        found[name] = existing
    return found


def _load_passwords(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise RealModeError(f"cannot read {path}: {err}") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise RealModeError(f"{path}: expected a JSON object of role names to passwords")
    return {str(k): v for k, v in data.items()}


def _save_passwords(path: Path, passwords: dict[str, str]) -> None:
    """Owner-only from its first byte: created 0600, then replaced atomically (which keeps the
    mode of the file it replaces)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    path.chmod(0o600)
    write_atomically(path, json.dumps(passwords, indent=1, sort_keys=True) + "\n")


def _create(
    conn: psycopg.Connection[Any],
    name: str,
    existing: _Existing,
    password: str,
    password_known: bool,
    undo: list[sql.Composed],
) -> tuple[list[str], bool]:
    """Create what ``name`` lacks: lines saying what was created or found, and whether anything
    changed."""
    role, lines = sql.Identifier(name), []
    if existing.role_can_login is None:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(role, sql.Literal(password))
        )
        undo.append(sql.SQL("DROP ROLE IF EXISTS {}").format(role))
        lines.append(f"created role {name}")
    elif not password_known:
        # Found, but its password was not kept (a new var folder): give it one we keep.
        conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(role, sql.Literal(password)))
        lines.append(f"found role {name}; set a new password (none was kept)")
    else:
        lines.append(f"found role {name}")
    if existing.database_owner is None:
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(role, role))
        undo.append(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(role))
        lines.append(f"created database {name}, owned by {name}")
    else:
        lines.append(f"found database {name}, owned by {name}")
    if existing.database_owner is None or existing.public_can_connect:
        conn.execute(sql.SQL("REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC").format(role))
        conn.execute(sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(role, role))
        if existing.database_owner is not None:
            lines.append(f"revoked CONNECT on database {name} from PUBLIC")
    changed = existing.role_can_login is None or not password_known
    return lines, changed or existing.database_owner is None or existing.public_can_connect


def _refuse_cross_access(conn: psycopg.Connection[Any], names: dict[str, str]) -> None:
    """Each owner's role connects to its own database only (a grant someone made by hand on a
    database that was found would break that)."""
    pairs = conn.execute(
        "SELECT r, d FROM unnest(%s::text[]) AS r, unnest(%s::text[]) AS d"
        " WHERE r <> d AND has_database_privilege(r, d, 'CONNECT')",
        (list(names.values()), list(names.values())),
    ).fetchall()
    if pairs:
        role, database = pairs[0]
        raise RealModeError(
            f"role {role} may connect to database {database}, another owner's;"
            f" REVOKE CONNECT ON DATABASE {database} FROM {role}"
        )


def provision(admin_url: str, prefix: str, var: Path) -> Provisioned:
    """Create each owner's role and database that is missing (see the module's docstring)."""
    names = owner_names(prefix)
    passwords_path = var / PASSWORDS_FILE_NAME
    passwords = _load_passwords(passwords_path)
    with _connect_admin(admin_url) as conn:
        found = _refuse_clashes(conn, names)
        known = {name: name in passwords for name in names.values()}
        for name in names.values():
            passwords.setdefault(name, secrets.token_urlsafe(24))
        # Kept before any role gets it, so no role has a password that was not written down.
        _save_passwords(passwords_path, passwords)
        report: list[str] = []
        changed = False
        undo: list[sql.Composed] = []
        try:
            for name in names.values():
                lines, changed_here = _create(
                    conn, name, found[name], passwords[name], known[name], undo
                )
                report += lines
                changed |= changed_here
            _refuse_cross_access(conn, names)
        except (psycopg.Error, RealModeError) as err:
            # Nothing half-created: what this run created goes again.
            for statement in reversed(undo):
                conn.execute(statement)
            if isinstance(err, RealModeError):
                raise
            raise RealModeError(f"could not provision PostgreSQL: {_first_line(err)}") from None
    if not changed:
        report.append("nothing to create: every owner's role and database exists")
    urls = {owner: owner_url(admin_url, name, passwords[name]) for owner, name in names.items()}
    return Provisioned(report=report, urls=urls)

"""The only writer of the route file: comment-preserving, validated, atomic, locked, audited.

Every flag change (the `strangler routes` CLI, the admin API, the plan walker) goes through
:func:`update_route` / :func:`update_routes`:

1. take an exclusive ``flock`` on ``<routes file>.lock`` (so CLI, admin API and walker serialise,
   whether they are threads or processes);
2. load the file with ruamel.yaml's round-trip loader, change only the named keys, render it;
3. validate the rendered text with :func:`proxy.config.parse_route_table` — a :class:`ConfigError`
   leaves the file byte-identical;
4. write a temp file in the same folder, ``fsync`` it, ``os.replace`` it over the old one (a reader
   sees the old file or the new one, never half of either);
5. append one JSON line per changed route to ``<routes file>.audit.jsonl``.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark, YAMLError
from ruamel.yaml.representer import RepresenterError
from ruamel.yaml.tokens import CommentToken

from proxy.atomic_file import write_atomically
from proxy.config import ConfigError, parse_route_table
from proxy.lint import require_clean

#: The route keys a flag change may touch (``match`` and ``name`` are edited by hand; ``compare``
#: by hand or, for A/A calibration's ignore rules, by :func:`add_compare_ignores`).
EDITABLE_KEYS: tuple[str, ...] = ("mode", "percent", "target", "fallback", "sticky", "record")

#: Where a new key goes: after the last existing key that comes before it in this order.
_KEY_ORDER: tuple[str, ...] = (
    "name",
    "match",
    "mode",
    "target",
    "percent",
    "sticky",
    "fallback",
    "compare",
    "record",
)


@dataclass(frozen=True)
class RouteChange:
    """One route's flags before and after a change (only the keys the change named)."""

    route: str
    actor: str
    at: datetime
    before: dict[str, Any]
    after: dict[str, Any]
    #: sha256 of the route file after the change (what a reloading proxy reports).
    digest: str

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat().replace("+00:00", "Z"),
            "actor": self.actor,
            "route": self.route,
            "before": self.before,
            "after": self.after,
            "digest": self.digest,
        }


def audit_log_path(path: Path) -> Path:
    """``<routes file>.audit.jsonl``: one JSON line per applied route change."""
    path = Path(path)
    return path.with_name(path.name + ".audit.jsonl")


def lock_path(path: Path) -> Path:
    """``<routes file>.lock``: the sibling file every writer locks (never deleted)."""
    path = Path(path)
    return path.with_name(path.name + ".lock")


@contextmanager
def route_file_lock(path: Path) -> Iterator[None]:
    """Hold the exclusive writer lock of ``path`` (blocks until the other writer is done).

    ``flock`` locks belong to the open file description, so two threads of one process that each
    open the lock file exclude each other just like two processes do.
    """
    fd = os.open(lock_path(path), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def update_route(path: Path, name: str, *, actor: str, **changes: Any) -> RouteChange:
    """Change the flags of route ``name`` in the route file at ``path``.

    ``changes`` are any of :data:`EDITABLE_KEYS`; ``None`` removes an optional key. Raises
    ``KeyError(name)`` for an unknown route and :class:`ConfigError` when the result would not be
    a valid route table (the file is then left byte-identical). A change that changes nothing is
    validated but writes neither the file nor the audit log.
    """
    return update_routes(path, {name: changes}, actor=actor)[0]


def update_routes(
    path: Path, changes: Mapping[str, Mapping[str, Any]], *, actor: str
) -> list[RouteChange]:
    """Apply flag changes to several routes in one validated, atomic write (all or nothing)."""
    path = Path(path)
    if not actor or not actor.strip():
        raise ConfigError("a route change needs an actor (who made it)")
    for route_changes in changes.values():
        unknown = sorted(set(route_changes) - set(EDITABLE_KEYS))
        if unknown:
            raise ConfigError(
                f"cannot change {', '.join(unknown)}: editable keys are {', '.join(EDITABLE_KEYS)}"
            )
    yaml = _yaml()
    with route_file_lock(path):
        try:
            old_text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise ConfigError(f"{path}: cannot read route file: {err.strerror}") from err
        parse_route_table(old_text, source=str(path))  # refuse to edit a file that is already bad
        try:
            data = yaml.load(old_text)
        except YAMLError as err:  # pragma: no cover - parse_route_table refused it already
            raise ConfigError(f"{path}: not valid YAML: {err}".replace("\n", " ")) from err
        routes = data.get("routes") if isinstance(data, CommentedMap) else None
        befores: dict[str, dict[str, Any]] = {}
        afters: dict[str, dict[str, Any]] = {}
        for name, route_changes in changes.items():
            route = _find_route(routes, name)
            befores[name] = {key: _plain(route.get(key)) for key in route_changes}
            for key, value in route_changes.items():
                _set_key(route, key, _normalise(key, value))
            afters[name] = {key: _plain(route.get(key)) for key in route_changes}
        at = datetime.now(UTC)
        if befores == afters:
            digest = hashlib.sha256(old_text.encode("utf-8")).hexdigest()
            return [
                RouteChange(name, actor, at, befores[name], afters[name], digest)
                for name in changes
            ]
        buffer = io.StringIO()
        try:
            yaml.dump(data, buffer)
        except RepresenterError as err:
            raise ConfigError(f"{path}: cannot write that value: {err}") from err
        new_text = buffer.getvalue()
        table = parse_route_table(new_text, source=str(path))
        require_clean(table, source=str(path))  # lint errors refuse the change; file untouched
        write_atomically(path, new_text)
        result = [
            RouteChange(name, actor, at, befores[name], afters[name], table.digest)
            for name in changes
        ]
        _append_audit([change for change in result if change.changed], audit_log_path(path))
        return result


def add_compare_ignores(
    path: Path, name: str, expressions: list[str], *, actor: str
) -> RouteChange:
    """Append JSONPaths to route ``name``'s ``compare.ignore`` (the A/A calibration's output).

    Same guarantees as :func:`update_route`: locked, comment-preserving, validated (a bad
    JSONPath is a :class:`ConfigError` and the file stays byte-identical), atomic, and one audit
    record whose before/after carry ``compare.ignore``. Paths already ignored are not repeated.
    """
    path = Path(path)
    if not actor or not actor.strip():
        raise ConfigError("a route change needs an actor (who made it)")
    yaml = _yaml()
    with route_file_lock(path):
        try:
            old_text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise ConfigError(f"{path}: cannot read route file: {err.strerror}") from err
        parse_route_table(old_text, source=str(path))
        data = yaml.load(old_text)
        routes = data.get("routes") if isinstance(data, CommentedMap) else None
        route = _find_route(routes, name)
        compare = route.get("compare")
        if compare is None:
            compare = CommentedMap()
            _set_key(route, "compare", compare)
        elif not isinstance(compare, CommentedMap):
            raise ConfigError(f"{path}: route {name!r}: compare is not a mapping")
        ignore = compare.get("ignore")
        before = _plain(ignore) if ignore is not None else []
        if ignore is None:
            ignore = CommentedSeq()
            compare.insert(0, "ignore", ignore)
        elif not isinstance(ignore, list):
            raise ConfigError(f"{path}: route {name!r}: compare.ignore is not a list")
        for expression in expressions:
            if expression not in ignore:
                ignore.append(expression)
        after = _plain(ignore)
        at = datetime.now(UTC)
        key = "compare.ignore"
        if before == after:
            digest = hashlib.sha256(old_text.encode("utf-8")).hexdigest()
            return RouteChange(name, actor, at, {key: before}, {key: after}, digest)
        buffer = io.StringIO()
        yaml.dump(data, buffer)
        table = parse_route_table(buffer.getvalue(), source=str(path))
        write_atomically(path, buffer.getvalue())
        change = RouteChange(name, actor, at, {key: before}, {key: after}, table.digest)
        _append_audit([change], audit_log_path(path))
        return change


def read_audit(routes_file: Path, *, limit: int | None = None) -> list[dict[str, Any]]:
    """The audit records of ``routes_file``, newest first (at most ``limit`` of them).

    A torn last line (a writer killed mid-append) is skipped rather than failing the reader.
    """
    try:
        lines = audit_log_path(routes_file).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    records: list[dict[str, Any]] = []
    for line in reversed(lines):
        if limit is not None and len(records) >= limit:
            break
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096  # never re-wrap a long flow mapping the user wrote on one line
    return yaml


def _find_route(routes: object, name: str) -> CommentedMap:
    if isinstance(routes, CommentedSeq):
        for route in routes:
            if isinstance(route, CommentedMap) and route.get("name") == name:
                return route
    raise KeyError(name)


def _normalise(key: str, value: Any) -> Any:
    """Write ``percent: 10`` rather than ``percent: 10.0`` when the value is whole."""
    if key == "percent" and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _plain(value: Any) -> Any:
    """ruamel round-trip values (CommentedMap, ScalarFloat, quoted strings) -> plain builtins."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    for kind in (int, float, str):
        if isinstance(value, kind):
            return kind(value)
    return value


def _set_key(route: CommentedMap, key: str, value: Any) -> None:
    """Set or remove one key, keeping the comments that follow the route where they were."""
    if value is None:
        if key not in route:
            return
        keys = list(route)
        if keys[-1] == key and len(keys) > 1:
            _move_trailing_comment(route, source=key, target=keys[-2])
        route.ca.items.pop(key, None)
        del route[key]
        return
    if key in route:
        route[key] = value
        return
    position = 0
    for index, existing in enumerate(route):
        if _order(existing) <= _order(key):
            position = index + 1
    keys = list(route)
    route.insert(position, key, value)
    if position == len(keys) and keys:
        _move_trailing_comment(route, source=keys[-1], target=key)


def _order(key: object) -> int:
    return _KEY_ORDER.index(str(key)) if key in _KEY_ORDER else len(_KEY_ORDER)


def _move_trailing_comment(route: CommentedMap, *, source: str, target: str) -> None:
    """Move the comment lines after ``source``'s line (not its end-of-line comment) to ``target``.

    ruamel attaches the comment block that precedes the *next* route to the last key of this
    route; when that key is removed, or a new key is added after it, the block must follow the
    route's new last key or it would vanish or land inside the route.
    """
    entry = route.ca.items.get(source)
    token = entry[2] if entry and len(entry) > 2 else None
    if not isinstance(token, CommentToken):
        return
    eol, newline, following = token.value.partition("\n")
    if not following:
        return
    if eol.strip():
        token.value = eol + newline
    else:
        entry[2] = None
    target_entry = route.ca.items.setdefault(target, [None, None, None, None])
    existing = target_entry[2]
    if isinstance(existing, CommentToken):
        existing.value = existing.value + following
    else:
        target_entry[2] = CommentToken("\n" + following, CommentMark(0), None)


def _append_audit(changes: list[RouteChange], audit_path: Path) -> None:
    if not changes:
        return
    payload = "".join(json.dumps(change.as_dict(), sort_keys=True) + "\n" for change in changes)
    fd = os.open(audit_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, payload.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def route_flags(
    path: Path, wanted: Mapping[str, Iterable[str]]
) -> dict[str, dict[str, Any] | None]:
    """The current values of the named keys of the named routes, as :class:`RouteChange` shows
    them (None for a route the file no longer has): what someone else's edit must be compared
    with. Raises :class:`ConfigError` when the file cannot be read or is not a route table."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"{path}: cannot read route file: {err.strerror}") from err
    parse_route_table(text, source=str(path))
    data = _yaml().load(text)
    routes = data.get("routes") if isinstance(data, CommentedMap) else None
    flags: dict[str, dict[str, Any] | None] = {}
    for name, keys in wanted.items():
        try:
            route = _find_route(routes, name)
        except KeyError:
            flags[name] = None
            continue
        flags[name] = {key: _plain(route.get(key)) for key in keys}
    return flags

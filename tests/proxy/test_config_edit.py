"""proxy.config_edit: comment-preserving, validated, atomic, locked and audited route-file edits."""

from __future__ import annotations

import difflib
import hashlib
import json
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from proxy.config import ConfigError, load_route_table
from proxy.config_edit import audit_log_path, read_audit, update_route, update_routes
from tests.support.processes import REPO_ROOT
from tests.support.random_refs import random_suffix

HEADER = "# Route table under test: comments here must survive every edit.\n"


def make_routes_file(tmp_path: Path, *, names: list[str] | None = None) -> tuple[Path, list[str]]:
    """A route file with a header comment, end-of-line comments and comments between routes."""
    names = names or [f"r{i}-{random_suffix()}" for i in range(2)]
    lines = [
        HEADER,
        "upstreams:\n",
        "  monolith: {url: http://127.0.0.1:9000}   # the old system\n",
        "  inventory: {url: http://127.0.0.1:9101, timeout_s: 2, dry_run: true}\n",
        "routes:\n",
    ]
    for i, name in enumerate(names):
        lines += [
            f"  # Route {name}: comment before the route.\n",
            f"  - name: {name}\n",
            f"    match: {{path_prefix: /api/p{i}/, methods: [GET, HEAD]}}\n",
            "    mode: monolith          # monolith | shadow | canary | extracted\n",
            "    target: inventory\n",
            "    fallback: monolith\n",
        ]
    lines.append("# trailing comment at the end of the file\n")
    path = tmp_path / f"routes-{random_suffix()}.yaml"
    path.write_text("".join(lines), encoding="utf-8")
    return path, names


def comment_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip().startswith("#")] + [
        line.split("#", 1)[1].strip() for line in text.splitlines() if " # " in line
    ]


def test_changes_flags_and_keeps_every_comment(tmp_path: Path) -> None:
    path, (first, second) = make_routes_file(tmp_path)
    before_text = path.read_text()

    change = update_route(path, first, actor="alice", mode="canary", percent=25)

    after_text = path.read_text()
    assert comment_lines(after_text) == comment_lines(before_text)
    route = load_route_table(path).route(first)
    assert (route.mode, route.percent, route.target) == ("canary", 25, "inventory")
    assert load_route_table(path).route(second).mode == "monolith"
    assert change.before == {"mode": "monolith", "percent": None}
    assert change.after == {"mode": "canary", "percent": 25}
    assert change.digest == hashlib.sha256(path.read_bytes()).hexdigest()
    # Only the two touched lines differ: one changed, one added.
    delta = [
        line
        for line in difflib.ndiff(before_text.splitlines(), after_text.splitlines())
        if line[:1] in "+-"
    ]
    assert [line[:1] + line[2:].split("#")[0].strip() for line in delta] == [
        "-mode: monolith",
        "+mode: canary",
        "+percent: 25",
    ]


def test_removing_the_last_key_keeps_the_comment_of_the_next_route(tmp_path: Path) -> None:
    path, (first, second) = make_routes_file(tmp_path)

    update_route(path, first, actor="alice", fallback=None)
    update_route(path, second, actor="alice", fallback=None)

    text = path.read_text()
    assert "fallback" not in text
    assert f"# Route {second}: comment before the route." in text
    assert "# trailing comment at the end of the file" in text
    # The comment still sits right before its route, not inside the previous one.
    lines = text.splitlines()
    at = lines.index(f"  # Route {second}: comment before the route.")
    assert lines[at + 1] == f"  - name: {second}"
    assert load_route_table(path).route(first).fallback is None


def test_adding_a_key_after_the_last_keeps_the_comment_with_the_next_route(
    tmp_path: Path,
) -> None:
    path, (first, second) = make_routes_file(tmp_path)
    update_route(path, first, actor="alice", fallback=None)

    update_route(path, first, actor="alice", fallback="monolith", sticky="header:X-Client")

    lines = path.read_text().splitlines()
    at = lines.index(f"  # Route {second}: comment before the route.")
    assert lines[at - 2 : at + 2] == [
        "    sticky: header:X-Client",
        "    fallback: monolith",
        f"  # Route {second}: comment before the route.",
        f"  - name: {second}",
    ]
    route = load_route_table(path).route(first)
    assert (route.sticky, route.fallback) == ("header:X-Client", "monolith")


def test_whole_percent_is_written_as_an_integer(tmp_path: Path) -> None:
    path, (first, _) = make_routes_file(tmp_path)
    update_route(path, first, actor="alice", mode="canary", percent=50.0)
    assert "    percent: 50\n" in path.read_text()
    update_route(path, first, actor="alice", percent=12.5)
    assert load_route_table(path).route(first).percent == 12.5


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"percent": 150}, "percent"),
        ({"mode": "sideways"}, "mode"),
        ({"fallback": "nowhere"}, "fallback 'nowhere' is not an upstream"),
        ({"mode": "shadow", "target": None}, "needs a target"),
        ({"sticky": "bogus"}, "sticky"),
        ({"percent": 10.001}, "two decimal places"),
        ({"match": {"path": "/x"}}, "editable keys"),
    ],
)
def test_an_invalid_change_leaves_the_file_byte_identical(
    tmp_path: Path, changes: dict[str, object], message: str
) -> None:
    path, (first, _) = make_routes_file(tmp_path)
    original = path.read_bytes()
    original_inode = path.stat().st_ino

    with pytest.raises(ConfigError, match=message):
        update_route(path, first, actor="alice", **changes)

    assert path.read_bytes() == original
    assert path.stat().st_ino == original_inode
    assert not audit_log_path(path).exists()
    assert {p.name for p in tmp_path.iterdir()} <= {path.name, path.name + ".lock"}


def test_unknown_route_is_a_key_error_and_changes_nothing(tmp_path: Path) -> None:
    path, _ = make_routes_file(tmp_path)
    original = path.read_bytes()
    with pytest.raises(KeyError) as caught:
        update_route(path, "no-such-route", actor="alice", mode="shadow")
    assert caught.value.args == ("no-such-route",)
    assert path.read_bytes() == original


def test_a_batch_is_all_or_nothing(tmp_path: Path) -> None:
    path, (first, second) = make_routes_file(tmp_path)
    original = path.read_bytes()
    with pytest.raises(KeyError):
        update_routes(path, {first: {"mode": "shadow"}, "ghost": {"mode": "shadow"}}, actor="a")
    with pytest.raises(ConfigError):
        update_routes(path, {first: {"mode": "shadow"}, second: {"percent": -1}}, actor="a")
    assert path.read_bytes() == original

    changes = update_routes(
        path, {first: {"mode": "shadow"}, second: {"mode": "extracted"}}, actor="a"
    )
    table = load_route_table(path)
    assert (table.route(first).mode, table.route(second).mode) == ("shadow", "extracted")
    assert {c.digest for c in changes} == {table.digest}
    assert sorted(r["route"] for r in read_audit(path)) == sorted([first, second])


def test_a_file_that_is_already_invalid_is_not_edited(tmp_path: Path) -> None:
    path, (first, _) = make_routes_file(tmp_path)
    broken = path.read_text().replace("  monolith: {url:", "  legacy: {url:")
    path.write_text(broken)
    with pytest.raises(ConfigError, match="monolith"):
        update_route(path, first, actor="alice", mode="shadow")
    assert path.read_text() == broken


def test_a_no_op_change_writes_nothing(tmp_path: Path) -> None:
    path, (first, _) = make_routes_file(tmp_path)
    stat = path.stat()

    change = update_route(path, first, actor="alice", mode="monolith", percent=None)

    assert not change.changed
    assert change.digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)
    assert read_audit(path) == []


def test_the_write_replaces_the_file_and_keeps_its_permissions(tmp_path: Path) -> None:
    path, (first, _) = make_routes_file(tmp_path)
    path.chmod(0o640)
    inode = path.stat().st_ino
    update_route(path, first, actor="alice", mode="shadow")
    assert path.stat().st_ino != inode  # a new file renamed over the old one
    assert path.stat().st_mode & 0o777 == 0o640


def test_audit_lines_say_who_when_what_and_the_new_digest(tmp_path: Path) -> None:
    path, (first, second) = make_routes_file(tmp_path)
    started = datetime.now(UTC)
    update_route(path, first, actor="alice", mode="shadow")
    update_route(path, second, actor="bob", mode="canary", percent=10)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()

    lines = audit_log_path(path).read_text().splitlines()
    assert len(lines) == 2
    newest, oldest = read_audit(path)
    assert oldest["actor"] == "alice" and oldest["route"] == first
    assert oldest["before"] == {"mode": "monolith"} and oldest["after"] == {"mode": "shadow"}
    assert newest == {
        **newest,
        "actor": "bob",
        "route": second,
        "before": {"mode": "monolith", "percent": None},
        "after": {"mode": "canary", "percent": 10},
        "digest": digest,
    }
    at = datetime.fromisoformat(newest["at"].replace("Z", "+00:00"))
    assert at.tzinfo is not None and at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert started <= at <= datetime.now(UTC)
    assert read_audit(path, limit=1) == [newest]


def test_read_audit_skips_a_torn_last_line(tmp_path: Path) -> None:
    path, (first, _) = make_routes_file(tmp_path)
    assert read_audit(path) == []
    update_route(path, first, actor="alice", mode="shadow")
    with audit_log_path(path).open("a") as log:
        log.write('{"actor": "half-writ')
    assert [r["actor"] for r in read_audit(path)] == ["alice"]


def test_an_actor_is_required(tmp_path: Path) -> None:
    path, (first, _) = make_routes_file(tmp_path)
    with pytest.raises(ConfigError, match="actor"):
        update_route(path, first, actor=" ", mode="shadow")


def _percent_chain(path: Path, route: str) -> list[float]:
    records = [
        r for r in reversed(read_audit(path)) if r["route"] == route and "percent" in r["after"]
    ]
    return [r["after"]["percent"] for r in records]


def test_concurrent_threads_never_lose_an_update(tmp_path: Path) -> None:
    writers, updates = 6, 15
    path, names = make_routes_file(tmp_path, names=[f"t{i}-{random_suffix()}" for i in range(6)])
    update_routes(path, {n: {"mode": "canary"} for n in names}, actor="setup")
    bad_reads: list[str] = []
    stop = threading.Event()

    def writer(name: str) -> None:
        for value in range(1, updates + 1):
            update_route(path, name, actor=f"thread-{name}", percent=value)

    def reader() -> None:
        while not stop.is_set():
            try:
                load_route_table(path)
            except ConfigError as err:
                bad_reads.append(str(err))

    watcher = threading.Thread(target=reader)
    watcher.start()
    threads = [threading.Thread(target=writer, args=(name,)) for name in names[:writers]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    watcher.join()

    assert bad_reads == []
    table = load_route_table(path)
    assert {table.route(n).percent for n in names} == {updates}
    for name in names:
        assert _percent_chain(path, name) == list(range(1, updates + 1))
    assert len(read_audit(path)) == writers * updates + len(names)


WRITER_SCRIPT = """
import sys
from pathlib import Path
from proxy.config_edit import update_route
path, name, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
for value in range(1, count + 1):
    update_route(path, name, actor=f"proc-{name}", percent=value)
"""


def test_concurrent_processes_never_lose_an_update_or_corrupt_the_file(tmp_path: Path) -> None:
    updates = 12
    path, names = make_routes_file(tmp_path, names=[f"p{i}-{random_suffix()}" for i in range(4)])
    update_routes(path, {n: {"mode": "canary"} for n in names}, actor="setup")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER_SCRIPT, str(path), name, str(updates)],
            cwd=REPO_ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in names
    ]
    bad_reads = []
    while any(proc.poll() is None for proc in procs):
        try:
            load_route_table(path)
        except ConfigError as err:
            bad_reads.append(str(err))
    results = [(proc.wait(), proc.stderr.read() if proc.stderr else "") for proc in procs]
    for proc in procs:
        if proc.stderr:
            proc.stderr.close()

    assert results == [(0, "")] * len(names)
    assert bad_reads == []
    table = load_route_table(path)
    assert {table.route(n).percent for n in names} == {updates}
    for name in names:
        assert _percent_chain(path, name) == list(range(1, updates + 1))
    assert all(json.loads(line) for line in audit_log_path(path).read_text().splitlines())
    assert HEADER.strip() in path.read_text()
    leftovers = {p.name for p in tmp_path.iterdir()} - {
        path.name,
        path.name + ".lock",
        path.name + ".audit.jsonl",
    }
    assert leftovers == set()

"""`strangler sync` as a user runs it: refusals are one line on stderr and exit 1."""

from __future__ import annotations

import contextlib
import os
import pty
import subprocess
from pathlib import Path

from tests.proxy.harness import route, routes_yaml, upstream
from tests.support.ports import free_port
from tests.support.processes import REPO_ROOT, VENV_BIN
from tests.sync.rig import SyncRig


def _one_line_refusal(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode == 1, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("strangler sync: ")
    for word in words:
        assert word in lines[0]


def test_status_with_the_services_down_is_one_line_and_exit_1(redis_env: dict[str, str]) -> None:
    env = {
        **os.environ,
        **redis_env,
        "STRANGLER_MONOLITH_URL": f"http://127.0.0.1:{free_port()}",
        "STRANGLER_INVENTORY_URL": f"http://127.0.0.1:{free_port()}",
    }
    done = subprocess.run(
        [str(VENV_BIN / "strangler"), "sync", "status"],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    _one_line_refusal(done, "unreachable")


def test_status_shows_backlog_lag_and_checkpoints(rig: SyncRig) -> None:
    rig.create_product()
    rig.create_product()
    done = rig.strangler_sync("status", "-c", "inventory")
    assert done.returncode == 0, done.stderr
    assert "pending in the outbox (backlog)" in done.stdout
    backlog_line = next(
        line for line in done.stdout.splitlines() if "pending in the outbox" in line
    )
    assert backlog_line.split("│")[2].strip() == "2"
    assert "never ran" in done.stdout


def test_backfill_refusals(rig: SyncRig) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    refused = rig.strangler_sync("backfill", "-a", "products", CELERY_BROKER_URL=nowhere)
    _one_line_refusal(refused, "broker", "refused")
    assert rig.checkpoint("products") is None

    # Nobody applies the pages: --wait gives up with where things stand.
    timed_out = rig.strangler_sync("backfill", "-a", "products", "--wait", "--timeout", "1")
    _one_line_refusal(timed_out, "not done after 1 s", "products not started")

    bad_size = rig.strangler_sync("backfill", "--page-size", "0")
    assert bad_size.returncode == 2
    unknown = rig.strangler_sync("backfill", "--aggregate", "shipments")
    assert unknown.returncode == 2 and "shipments" in unknown.stderr
    # A job whose owner does not answer (this rig runs no payments service): one line.
    unreachable = rig.strangler_sync("backfill", "--aggregate", "payments")
    _one_line_refusal(unreachable, "the payments service", "unreachable")
    for bad in (["--throttle", "0"], ["--wire", "xml"]):
        refused_option = rig.strangler_sync("backfill", *bad)
        assert refused_option.returncode == 2 and bad[0] in refused_option.stderr

    kick = rig.strangler_sync("relay", CELERY_BROKER_URL=nowhere)
    _one_line_refusal(kick, "refused the relay kick")
    bad_prefix = rig.strangler_sync("relay", STRANGLER_QUEUE_PREFIX="no spaces")
    _one_line_refusal(bad_prefix, "STRANGLER_QUEUE_PREFIX")
    short = rig.strangler_sync("relay", STRANGLER_BROKER_VISIBILITY_TIMEOUT_S="5")
    _one_line_refusal(short, "STRANGLER_BROKER_VISIBILITY_TIMEOUT_S=5", "retry countdown")


def test_retiring_needs_confirm_and_takes_no_route() -> None:
    """Refused before any owner is asked (none runs here)."""

    def switch(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(VENV_BIN / "strangler"), "sync", "switch", "inventory", "retired", *args],
            env={**os.environ, "STRANGLER_MONOLITH_URL": f"http://127.0.0.1:{free_port()}"},
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
        )

    unconfirmed = switch()
    assert unconfirmed.returncode == 1
    assert unconfirmed.stderr.strip() == (
        "strangler sync switch: retiring inventory cannot be undone: the monolith stops "
        "receiving the service's writes and its tables of the capability refuse every write, "
        "for good; no switch moves it back. Pass --confirm"
    )
    routed = switch("--confirm", "--route", "inventory-writes")
    assert routed.returncode == 1
    assert routed.stderr.strip() == (
        "strangler sync switch: retired takes no --route: the write routes already name the service"
    )


def test_switch_refuses_an_unknown_route_before_the_drain(tmp_path: Path) -> None:
    """No owner runs here: the name is checked against the route file before any is asked."""
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        routes_yaml(
            {"monolith": upstream("http://127.0.0.1:1")},
            [route("inventory-writes", match={"path_prefix": "/api/inventory/"})],
        )
    )
    original = routes.read_bytes()
    done = subprocess.run(
        [
            *(str(VENV_BIN / "strangler"), "sync", "switch", "inventory", "reverse"),
            *("--route", "inventory-writes", "--route", "nope"),
        ],
        env={
            **os.environ,
            "PROXY_ROUTES_FILE": str(routes),
            "STRANGLER_MONOLITH_URL": f"http://127.0.0.1:{free_port()}",
            "STRANGLER_INVENTORY_URL": f"http://127.0.0.1:{free_port()}",
        },
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == f"strangler sync switch: no route named 'nope' in {routes}"
    assert routes.read_bytes() == original


def test_backfill_wait_shows_a_bar_on_a_terminal_only(rig: SyncRig) -> None:
    """stderr a terminal (a pty), stdout a pipe: the bar, with the monolith's count as its
    total, goes to the terminal; stdout holds the result lines alone."""
    rig.create_product()
    rig.create_product()
    leader, follower = pty.openpty()
    with subprocess.Popen(
        [
            *(str(VENV_BIN / "strangler"), "sync", "backfill", "-a", "products"),
            *("--wait", "--timeout", "1"),
        ],
        env={**os.environ, **rig.env},
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=follower,
        text=True,
    ) as running:
        os.close(follower)
        terminal = b""
        with contextlib.suppress(OSError):  # EIO once the command exits
            while chunk := os.read(leader, 4096):
                terminal += chunk
        stdout = running.stdout.read() if running.stdout else ""
    os.close(leader)
    assert running.returncode == 1  # nobody applies the pages in this rig
    shown = terminal.decode(errors="replace")
    assert "products" in shown and "0/2" in shown and "rows/s" in shown
    assert "not done after 1 s" in shown
    lines = stdout.splitlines()
    assert len(lines) == 1, stdout
    [line] = lines
    assert line.startswith("products: started from the beginning (pages of")

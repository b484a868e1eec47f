"""The supervisor under `strangler up` on small real processes: a killed child is restarted (its
own children killed with it) while the others keep running, a crash loop backs off, a stop
escalates to SIGKILL, and `strangler up --status` shows it all, one line per process."""

from __future__ import annotations

import asyncio
import io
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import typer
from typer.testing import CliRunner

from contracts.process_status import (
    STATUS_FILE_NAME,
    ProcessStatus,
    StackStatus,
    StatusUnavailable,
    read_status,
)
from strangler.stack import ProcessSpec
from strangler.supervisor import Backoff, Supervisor
from strangler.up_cmd import up
from tests.support.processes import REPO_ROOT


def _python(code: str) -> tuple[str, ...]:
    return (sys.executable, "-c", code)


STEADY = _python("import time; print('steady up', flush=True); time.sleep(600)")
#: Starts a grandchild and names it, then waits.
PARENT = _python(
    "import subprocess, sys, time\n"
    "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
    "print('grandchild', g.pid, flush=True)\n"
    "time.sleep(600)"
)
STUBBORN = _python(
    "import signal, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ignoring SIGTERM', flush=True)\n"
    "time.sleep(600)"
)


async def _until(condition: Callable[[], object], *, timeout: float = 20.0) -> None:
    """Await ``condition`` (checked every 50 ms) for at most ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


def _status(path: Path) -> dict[str, ProcessStatus]:
    try:
        return {p.name: p for p in read_status(path).processes}
    except StatusUnavailable:
        return {}


def _alive(pid: int) -> bool:
    """Running (a zombie, dead and waiting for init to reap it, is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def _status_command(var: Path) -> subprocess.CompletedProcess[str]:
    """`strangler up --status` on ``var``, run in this process (the command's own code, parsed by
    typer as the CLI parses it; a subprocess would spend seconds importing the whole CLI)."""
    cli = typer.Typer()
    cli.command(name="up")(up)
    done = CliRunner().invoke(cli, ["--status"], env={"STRANGLER_VAR_DIR": str(var)})
    return subprocess.CompletedProcess([], done.exit_code, done.stdout, done.stderr)


def test_backoff_doubles_up_to_its_cap() -> None:
    backoff = Backoff(first_s=0.5, max_s=4.0)
    assert [backoff.delay_s(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_a_killed_child_restarts_alone_and_its_children_go_with_it(tmp_path: Path) -> None:
    status_path = tmp_path / STATUS_FILE_NAME
    out = io.StringIO()
    supervisor = Supervisor(
        [ProcessSpec("steady", STEADY), ProcessSpec("parent", PARENT)],
        env=dict(os.environ),
        cwd=REPO_ROOT,
        status_path=status_path,
        output=out,
        backoff=Backoff(first_s=0.2),
    )

    def grandchildren() -> list[int]:
        return [int(pid) for pid in re.findall(r"parent +\| grandchild (\d+)", out.getvalue())]

    async def scenario() -> None:
        running = asyncio.create_task(supervisor.run())
        await _until(lambda: len(grandchildren()) == 1 and "steady up" in out.getvalue())
        before = _status(status_path)
        assert {p.state for p in before.values()} == {"up"}
        first_grandchild = grandchildren()[0]
        assert before["parent"].pid is not None

        os.kill(before["parent"].pid, signal.SIGKILL)
        await _until(lambda: len(grandchildren()) == 2)
        await _until(lambda: _status(status_path)["parent"].state == "up")
        after = _status(status_path)
        assert after["parent"].pid not in (None, before["parent"].pid)
        assert (after["parent"].restarts, after["parent"].last_exit) == (1, -signal.SIGKILL)
        assert after["steady"] == before["steady"]  # same pid, same start, no restart
        assert not _alive(first_grandchild), "the dead child's own child outlived it"
        assert re.search(
            r"parent exited \(killed by SIGKILL\) after [\d.]+ s; restart 1 in 0.2 s",
            out.getvalue(),
        )

        shown = _status_command(tmp_path)
        assert shown.returncode == 0, shown.stderr
        header, *lines = shown.stdout.strip().splitlines()
        assert header.split() == ["PROCESS", "STATE", "PID", "RESTARTS", "LAST", "EXIT", "UPTIME"]
        rows = {line.split()[0]: line.split() for line in lines}
        assert set(rows) == {"steady", "parent"}
        assert rows["parent"][1:6] == ["up", str(after["parent"].pid), "1", "killed", "by"]
        assert rows["parent"][6] == "SIGKILL"
        assert rows["steady"][1:5] == ["up", str(after["steady"].pid), "0", "-"]
        assert re.fullmatch(r"\d+h\d\dm\d\ds", rows["steady"][5])

        supervisor.request_stop()
        await running
        pids = [after["parent"].pid, after["steady"].pid]
        assert not any(_alive(pid) for pid in pids if pid is not None)
        assert not _alive(grandchildren()[1])

    asyncio.run(scenario())
    assert {p.state for p in _status(status_path).values()} == {"stopped"}


def test_a_crash_loop_backs_off_and_stop_escalates_to_sigkill(tmp_path: Path) -> None:
    status_path = tmp_path / STATUS_FILE_NAME
    out = io.StringIO()
    supervisor = Supervisor(
        [
            ProcessSpec("crashing", _python("raise SystemExit(3)")),
            ProcessSpec("stubborn", STUBBORN),
        ],
        env=dict(os.environ),
        cwd=REPO_ROOT,
        status_path=status_path,
        output=out,
        backoff=Backoff(first_s=0.1, max_s=0.4),
        stop_grace_s=0.5,
    )

    def delays() -> list[str]:
        return re.findall(
            r"crashing exited \(exit 3\) after [\d.]+ s; restart \d+ in ([\d.]+) s", out.getvalue()
        )

    async def scenario() -> None:
        running = asyncio.create_task(supervisor.run())
        await _until(lambda: len(delays()) >= 4 and "ignoring SIGTERM" in out.getvalue())
        assert delays()[:4] == ["0.1", "0.2", "0.4", "0.4"]
        crashing = _status(status_path)["crashing"]
        assert crashing.last_exit == 3 and crashing.restarts >= 4
        stubborn = _status(status_path)["stubborn"]
        assert stubborn.pid is not None and stubborn.restarts == 0

        supervisor.request_stop()
        async with asyncio.timeout(10):
            await running
        assert not _alive(stubborn.pid)
        assert "still running after 0.5 s, killed: stubborn" in out.getvalue()

    asyncio.run(scenario())
    assert {p.state for p in _status(status_path).values()} == {"stopped"}


def test_status_when_no_stack_runs_is_one_line_and_exit_1(tmp_path: Path) -> None:
    missing = _status_command(tmp_path)
    assert missing.returncode == 1 and missing.stdout == ""
    assert missing.stderr.count("\n") == 1
    assert missing.stderr.startswith("strangler up --status: no supervised stack")

    dead_pid = subprocess.Popen([sys.executable, "-c", "pass"])
    dead_pid.wait()
    stale = StackStatus(
        supervisor_pid=dead_pid.pid,
        updated_at=datetime.now(UTC),
        processes=[
            ProcessStatus(
                name="proxy", state="up", pid=1, restarts=0, last_exit=None, started_at=None
            )
        ],
    )
    (tmp_path / STATUS_FILE_NAME).write_text(stale.model_dump_json())
    not_running = _status_command(tmp_path)
    assert not_running.returncode == 1 and not_running.stdout == ""
    assert not_running.stderr.count("\n") == 1
    assert f"strangler up (pid {dead_pid.pid}) is not running" in not_running.stderr

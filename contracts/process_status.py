"""The status of a supervised stack's processes, as `strangler up` publishes it.

The supervisor (strangler/supervisor.py) rewrites one JSON file, ``$STRANGLER_VAR_DIR/
processes.json``, whole and atomically on every change (a start, an exit, a restart). Two
readers show it: `strangler up --status` (one line per process) and the proxy admin API's
``GET /admin/processes``. A file rather than a socket: both readers already share the var
folder with the supervisor, and a file needs no port and outlives nobody's connection.

Uptime is not stored (it would be stale the moment it is written): readers derive it from
``started_at``. ``last_exit`` follows subprocess's convention: an exit status, or minus the
number of the signal that killed the process.
"""

from __future__ import annotations

import os
import signal
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

STATUS_FILE_NAME: Final = "processes.json"

#: ``up``: running; ``down``: exited, waiting out its backoff before the restart; ``stopped``:
#: stopped with the whole stack (Ctrl-C, SIGTERM).
ProcessState = Literal["up", "down", "stopped"]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProcessStatus(_Wire):
    name: str
    state: ProcessState
    pid: int | None
    restarts: int
    last_exit: int | None
    #: When the current run started (None while the process is not running).
    started_at: datetime | None


class StackStatus(_Wire):
    supervisor_pid: int
    updated_at: datetime
    processes: list[ProcessStatus]


class StatusUnavailable(Exception):
    """No status to show; ``str(err)`` is one line saying why."""


def describe_exit(code: int | None) -> str:
    """``exit 1``, ``killed by SIGKILL``, or ``-`` (never exited)."""
    if code is None:
        return "-"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit {code}"


def uptime_s(process: ProcessStatus, now: datetime) -> float | None:
    if process.state != "up" or process.started_at is None:
        return None
    return max(0.0, (now - process.started_at).total_seconds())


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_status(path: Path) -> StackStatus:
    """The status file's content; StatusUnavailable when there is none or it is unreadable."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise StatusUnavailable(f"no supervised stack: {path} does not exist") from err
    try:
        return StackStatus.model_validate_json(text)
    except ValidationError as err:
        raise StatusUnavailable(f"{path} is not a process status file") from err


def status_json(status: StackStatus, now: datetime) -> dict[str, Any]:
    """The JSON view of a status file: the stored fields plus whether the supervisor still runs
    and each process's uptime and last exit in words."""
    return {
        "supervisor": {"pid": status.supervisor_pid, "running": pid_alive(status.supervisor_pid)},
        "updated_at": status.updated_at.isoformat(),
        "processes": [
            {
                **process.model_dump(mode="json"),
                "uptime_s": uptime_s(process, now),
                "last_exit_text": describe_exit(process.last_exit),
            }
            for process in status.processes
        ],
    }

"""Start real processes for tests and stop them cleanly; their output goes to a log file."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import httpx

from tests.support.waiting import wait_for

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


class ServerProcess:
    """A child process (own process group) with its output captured to ``log_path``."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        log_dir: Path,
        cwd: Path = REPO_ROOT,
        inherit_env: bool = True,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = {**(os.environ if inherit_env else {}), **(env or {})}
        # Child processes find the venv's console scripts first.
        self.env["PATH"] = f"{VENV_BIN}{os.pathsep}{self.env.get('PATH', '')}"
        self.env.setdefault("PYTHONUNBUFFERED", "1")
        self.log_path = log_dir / f"{name}.log"
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ServerProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=self.cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_http_ok(self, url: str, *, timeout: float = 30.0) -> None:
        def ready() -> bool:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited early:\n{self.log_tail()}")
            return httpx.get(url, timeout=2.0).status_code == 200

        try:
            wait_for(ready, timeout=timeout, message=f"{self.name} at {url}")
        except AssertionError as err:
            raise AssertionError(f"{err}\n--- {self.name} log ---\n{self.log_tail()}") from err

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.proc is None:
            return None
        stop_all([self], timeout)
        return self.proc.returncode

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stop_all(processes: Iterable[ServerProcess], timeout: float = 10.0) -> None:
    """Stop ``processes`` side by side: SIGTERM to every one, one shared wait, then SIGKILL for
    those still running. A stack stops in the time of its slowest process, not the sum of all."""
    stopping = [p for p in processes if p.alive()]
    for process in stopping:
        with contextlib.suppress(ProcessLookupError):
            process.kill(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in stopping:
        assert process.proc is not None
        try:
            process.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            process.proc.wait(timeout=timeout)


def run_to_end(argv: Sequence[str], env: Mapping[str, str], *, timeout: float = 120) -> str:
    """Run ``argv`` from the repository root in ``env`` until it exits; its standard output,
    stripped. A non-zero exit fails the test with the command's output."""
    done = subprocess.run(
        list(argv), env=dict(env), cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip()


def manage(env: Mapping[str, str], *argv: str) -> str:
    """``monolith/manage.py argv`` in ``env`` (``run_to_end``)."""
    return run_to_end([sys.executable, "monolith/manage.py", *argv], env)

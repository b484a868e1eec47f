"""A redis-server of the test's own, on a free port, for tests that stop or restart the broker
(never the shared one on 6379: other suites use it)."""

from __future__ import annotations

import shutil
import signal
from pathlib import Path

import redis

from tests.support.ports import free_port
from tests.support.processes import ServerProcess
from tests.support.waiting import wait_for


class OwnRedis:
    """``redis-server`` with an append-only file synced at every write, so a kill loses no
    message the server acknowledged (what a broker must promise for at-least-once)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: ServerProcess | None = None
        self._starts = 0

    def start(self) -> OwnRedis:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        binary = shutil.which("redis-server")
        assert binary is not None, "redis-server is not installed"
        self._starts += 1
        argv = [
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
        ]
        self._process = ServerProcess(
            f"redis-{self.port}-{self._starts}", argv, log_dir=self.data_dir
        ).start()
        wait_for(self.answers, timeout=20, message=f"redis-server on {self.port}")
        return self

    def answers(self) -> bool:
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL: no shutdown save; only what the append-only file holds survives."""
        assert self._process is not None
        self._process.kill(signal.SIGKILL)
        assert self._process.proc is not None
        self._process.proc.wait(timeout=10)

    def restart(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()

    def __enter__(self) -> OwnRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

"""Run the stack's processes from one process: restart one that dies, stop all on SIGINT/SIGTERM.

Why our own small supervisor on asyncio subprocesses, with honcho's Printer for the output:
- honcho's Manager stops every process when one exits (the stack went down with any one part),
  and it forks a copy of the calling CLI per child (a multiprocessing.Process that then runs the
  command): thirteen copies of the CLI's memory doing nothing but wait.
- supervisord and circus are daemons of their own, with their own config file, control protocol
  and process to keep alive; the stack is started by `strangler up` in the foreground, with the
  environment and the preparation steps that command computes, and must stop with Ctrl-C.
- asyncio waits on every child and reads every child's output from this one process, with no
  extra process per child, so supervision costs one event loop. What remains ours is the
  restart policy (below) and the status file; honcho's Printer keeps the familiar
  ``time name | line`` output.

Each child runs in its own session (process group): the terminal's Ctrl-C reaches only this
process, which stops the children in order, and a child's own children (gunicorn's workers, the
proxy's shadow process) are signalled with it. When a child exits, whatever is left of its group
is killed before the restart, so no orphan keeps its port.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from honcho.colour import get_colours
from honcho.printer import Message, Printer

from contracts.process_status import (
    ProcessState,
    ProcessStatus,
    StackStatus,
    describe_exit,
)
from proxy.atomic_file import write_atomically
from strangler.stack import ProcessSpec

#: The name the supervisor's own lines carry.
SYSTEM = "up"
#: How long the children get to stop after SIGTERM before SIGKILL.
STOP_GRACE_S = 5.0
#: How long the last output of a child that exited may take to arrive.
OUTPUT_DRAIN_S = 2.0
#: Longest output line kept whole (a longer one is printed in pieces).
LINE_LIMIT = 1024 * 1024


@dataclass(frozen=True)
class Backoff:
    """The wait before a restart: ``first_s``, doubling with each exit in a row, at most
    ``max_s``. A run that lasted ``stable_s`` resets the count, so a process that dies once a day
    restarts at once, and one that cannot start does not spin.

    Our own few lines: the delay depends on how long the last run lasted, which retry libraries
    (stamina, tenacity) do not model; they retry a call, not a process."""

    first_s: float = 0.5
    max_s: float = 30.0
    stable_s: float = 30.0

    def delay_s(self, exits_in_a_row: int) -> float:
        return float(min(self.max_s, self.first_s * 2 ** max(0, exits_in_a_row - 1)))


class _ChildProtocol(asyncio.SubprocessProtocol):
    """A child's output, line by line, and its exit. Not asyncio's Process: its ``wait()`` also
    waits for the output pipe to close, which a grandchild that outlives the child (gunicorn's
    workers, the proxy's shadow process) keeps open."""

    def __init__(self, on_line: Callable[[bytes], None]) -> None:
        self._on_line = on_line
        self._partial = b""
        self._transport: asyncio.SubprocessTransport | None = None
        self.exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.output_closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.SubprocessTransport)
        self._transport = transport

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        *lines, self._partial = (self._partial + data).split(b"\n")
        for line in lines:
            self._on_line(line)
        if len(self._partial) > LINE_LIMIT:
            self._on_line(self._partial)
            self._partial = b""

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if self._partial:
            self._on_line(self._partial)
            self._partial = b""
        if not self.output_closed.done():
            self.output_closed.set_result(None)

    def process_exited(self) -> None:
        assert self._transport is not None
        code = self._transport.get_returncode()
        if not self.exited.done():
            self.exited.set_result(code if code is not None else 0)


@dataclass
class _Child:
    spec: ProcessSpec
    colour: str | None
    pid: int | None = None
    transport: asyncio.SubprocessTransport | None = field(default=None, repr=False)
    protocol: _ChildProtocol | None = field(default=None, repr=False)
    state: ProcessState = "down"
    restarts: int = 0
    last_exit: int | None = None
    started_at: datetime | None = None
    started_mono: float = 0.0
    exits_in_a_row: int = 0

    @property
    def running(self) -> bool:
        return self.protocol is not None and not self.protocol.exited.done()

    def status(self) -> ProcessStatus:
        up = self.state == "up"
        return ProcessStatus(
            name=self.spec.name,
            state=self.state,
            pid=self.pid if up else None,
            restarts=self.restarts,
            last_exit=self.last_exit,
            started_at=self.started_at if up else None,
        )


def _kill_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


class Supervisor:
    """Start ``specs``, keep each running, publish their status to ``status_path``; :meth:`run`
    returns once a stop was asked (SIGINT/SIGTERM or :meth:`request_stop`) and every child is
    gone."""

    def __init__(
        self,
        specs: Sequence[ProcessSpec],
        *,
        env: Mapping[str, str],
        cwd: Path,
        status_path: Path,
        output: TextIO = sys.stdout,
        backoff: Backoff = Backoff(),
        stop_grace_s: float = STOP_GRACE_S,
    ) -> None:
        width = max([len(SYSTEM), *(len(s.name) for s in specs)])
        self._printer = Printer(output=output, width=width)
        colours = get_colours()
        self._children = [_Child(spec, next(colours)) for spec in specs]
        self._env = dict(env)
        self._cwd = cwd
        self._status_path = status_path
        self._backoff = backoff
        self._stop_grace_s = stop_grace_s
        self._stopping: asyncio.Event | None = None
        self._stop_requests = 0

    # -- output and status -------------------------------------------------------------------
    def say(self, text: str, name: str = SYSTEM, colour: str | None = None) -> None:
        self._printer.write(Message("line", text, datetime.now(), name, colour))

    def _publish(self) -> None:
        status = StackStatus(
            supervisor_pid=os.getpid(),
            updated_at=datetime.now(UTC),
            processes=[child.status() for child in self._children],
        )
        write_atomically(self._status_path, status.model_dump_json(indent=1) + "\n")

    # -- lifecycle ---------------------------------------------------------------------------
    def request_stop(self) -> None:
        """First call: stop gracefully (SIGTERM, then SIGKILL after the grace). Second call (a
        second Ctrl-C): SIGKILL at once."""
        self._stop_requests += 1
        if self._stopping is not None:
            self._stopping.set()
        if self._stop_requests > 1:
            for child in self._children:
                if child.running and child.pid is not None:
                    _kill_group(child.pid, signal.SIGKILL)

    async def run(self) -> None:
        self._stopping = asyncio.Event()
        if self._stop_requests:
            self._stopping.set()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request_stop)
        self._status_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            keepers = [asyncio.create_task(self._keep_running(c)) for c in self._children]
            await self._stopping.wait()
            self.say("stopping every process")
            await self._stop_all()
            await asyncio.gather(*keepers, return_exceptions=True)
            for child in self._children:
                child.state = "stopped"
            self._publish()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    async def _start(self, child: _Child) -> None:
        def on_line(line: bytes) -> None:
            self.say(line.decode("utf-8", "replace").rstrip("\r"), child.spec.name, child.colour)

        transport, protocol = await asyncio.get_running_loop().subprocess_exec(
            lambda: _ChildProtocol(on_line),
            *child.spec.argv,
            env={**self._env, **dict(child.spec.env)},
            cwd=self._cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        child.transport, child.protocol = transport, protocol
        child.pid = transport.get_pid()
        child.state = "up"
        child.started_at = datetime.now(UTC)
        child.started_mono = time.monotonic()
        self.say(f"{child.spec.name} started (pid={child.pid})")
        self._publish()

    async def _keep_running(self, child: _Child) -> None:
        assert self._stopping is not None
        while not self._stopping.is_set():
            try:
                await self._start(child)
            except OSError as err:
                self.say(f"{child.spec.name} could not start: {err}")
                child.last_exit = None
                child.started_mono = time.monotonic()
            else:
                assert child.protocol is not None and child.transport is not None
                assert child.pid is not None
                code = await child.protocol.exited
                # Whatever the child left in its group (gunicorn's workers, the proxy's shadow
                # process) goes with it: the output pipe closes, and no orphan keeps the port.
                _kill_group(child.pid, signal.SIGKILL)
                try:
                    await asyncio.wait_for(
                        asyncio.shield(child.protocol.output_closed), OUTPUT_DRAIN_S
                    )
                except TimeoutError:
                    # Something outside the group (it started a session of its own) still
                    # holds the output: stop reading it rather than wait for it.
                    self.say(f"{child.spec.name}: output still open after it exited; closed")
                child.transport.close()
                child.last_exit = code
                if self._stopping.is_set():
                    return
            ran_s = time.monotonic() - child.started_mono
            child.exits_in_a_row = (
                1 if ran_s >= self._backoff.stable_s else child.exits_in_a_row + 1
            )
            delay = self._backoff.delay_s(child.exits_in_a_row)
            child.state = "down"
            child.restarts += 1
            self._publish()
            self.say(
                f"{child.spec.name} exited ({describe_exit(child.last_exit)}) after {ran_s:.1f} s;"
                f" restart {child.restarts} in {delay:.1f} s"
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)

    async def _stop_all(self) -> None:
        running = [c for c in self._children if c.running and c.pid is not None]
        for child in running:
            assert child.pid is not None
            _kill_group(child.pid, signal.SIGTERM)
        exits = [c.protocol.exited for c in running if c.protocol is not None]
        if not exits:
            return
        _, late = await asyncio.wait(exits, timeout=self._stop_grace_s)
        if late:
            names = [c.spec.name for c in running if c.running]
            self.say(f"still running after {self._stop_grace_s:g} s, killed: {', '.join(names)}")
            for child in running:
                if child.running and child.pid is not None:
                    _kill_group(child.pid, signal.SIGKILL)
            await asyncio.wait(exits)

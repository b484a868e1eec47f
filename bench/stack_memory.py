"""What the idle embedded stack costs in memory: processes and summed RSS of `strangler up`'s tree.

    .venv/bin/python -m bench.stack_memory [--settle-s 20]

Starts `strangler up` (embedded default: SQLite files and the filesystem broker, in a temporary
var folder, on free ports), waits for its ready banner and then ``--settle-s`` idle seconds, and
reads ``VmRSS`` from ``/proc/PID/status`` for the `strangler up` process and every descendant
(``bench.proc_cpu.process_tree``). Prints one line per process (command, RSS) and the totals.
Summed RSS counts pages that processes share (the interpreter, libraries loaded before a fork)
once per process, so it overstates what the stack takes from the machine; it is the figure the
target is stated in.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.proc_cpu import process_tree
from bench.processes import REPO_ROOT, free_port

BANNER = "Strangler Fig is up"


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def command(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return " ".join(Path(a).name if i == 0 else a for i, a in enumerate(raw.decode().split("\0")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settle-s", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="stack-memory-") as tmp:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.endswith("DATABASE_URL") and k != "CELERY_BROKER_URL"
        }
        env["STRANGLER_VAR_DIR"] = str(Path(tmp) / "var")
        argv = [sys.executable, "-m", "strangler.cli", "up", "--products", "20"]
        for option in ("monolith", "inventory", "proxy", "admin", "payments", "orders"):
            argv += [f"--{option}-port", str(free_port())]
        log_path = Path(tmp) / "up.log"
        with log_path.open("wb") as log:
            up = subprocess.Popen(argv, env=env, cwd=REPO_ROOT, stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 180
            while BANNER not in log_path.read_text(errors="replace"):
                if up.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"strangler up did not come up:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.5)
            time.sleep(args.settle_s)  # a benchmark: idle for a while, then measure
            pids = process_tree(up.pid)
            total = 0
            for pid in sorted(pids):
                kib = rss_kib(pid)
                total += kib
                print(f"{pid:>8}  {kib / 1024:7.1f} MiB  {command(pid)[:110]}")
            print(f"{len(pids)} processes, {total / 1024:.0f} MiB RSS summed ({total} KiB)")
        finally:
            up.send_signal(signal.SIGINT)
            started = time.monotonic()
            up.wait(timeout=60)
            print(f"stopped {time.monotonic() - started:.1f} s after SIGINT, exit {up.returncode}")
            for line in log_path.read_text(errors="replace").splitlines():
                if "still running after" in line:
                    print(line)


if __name__ == "__main__":
    main()

"""What the idle embedded stack costs in memory: processes and summed RSS of `strangler up`'s tree.

    .venv/bin/python -m bench.stack_memory [--settle-s 20]

Starts `strangler up` (embedded default: SQLite files and the filesystem broker, in a temporary
var folder, on free ports), waits for its ready banner and then ``--settle-s`` idle seconds, and
reads ``VmRSS`` from ``/proc/PID/status`` and ``Pss`` from ``/proc/PID/smaps_rollup`` for the
`strangler up` process and every descendant (``bench.proc_cpu.process_tree``). Prints one line
per process (RSS, PSS, command) and the totals. Summed RSS counts pages that processes share
(the interpreter, libraries, whatever a parent had before it forked) once per process, so it
overstates what the stack takes from the machine; it is the figure the target is stated in.
PSS charges each shared page to its processes in equal parts, so summed PSS is the truer
figure.
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


def _kib(path: str, field: str) -> int:
    """The ``field:`` line of a /proc file, in KiB (0 when the process is gone)."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_kib(pid: int) -> int:
    return _kib(f"/proc/{pid}/status", "VmRSS")


def pss_kib(pid: int) -> int:
    return _kib(f"/proc/{pid}/smaps_rollup", "Pss")


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
            total_rss = total_pss = 0
            print(f"{'pid':>8}  {'RSS MiB':>8}  {'PSS MiB':>8}  command")
            for pid in sorted(pids):
                rss, pss = rss_kib(pid), pss_kib(pid)
                total_rss += rss
                total_pss += pss
                print(f"{pid:>8}  {rss / 1024:8.1f}  {pss / 1024:8.1f}  {command(pid)[:100]}")
            print(
                f"{len(pids)} processes, {total_rss / 1024:.0f} MiB RSS summed ({total_rss} KiB),"
                f" {total_pss / 1024:.0f} MiB PSS summed ({total_pss} KiB)"
            )
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

"""What does shadow mode cost the client? Client p50 in shadow mode vs plain passthrough.

One proxy (``python -m proxy``, pinned to CPU 0) in front of two fast upstreams
(``bench/fast_upstream.py``, a page of ``--rows`` products each): the primary answers compact
JSON, the shadow target the same document indented, so every shadow comparison parses and normalises
both bodies (and finds them equal: no mismatch is stored, as in a healthy shadow). The same route
is flipped between ``monolith`` (passthrough) and ``shadow`` through ``proxy.config_edit`` — the
running proxy reloads it — and the two modes alternate over ``--rounds``.

"At the same load": ``wrk`` paces each of its ``--connections`` with a fixed ``--delay-ms``
between requests (a Lua ``delay()``), so both modes are offered the same request rate, below what
the proxy can serve; the figure is the client p50 (wrk measures from send to answer, the pacing
excluded). The proxy is pinned to CPU 0; its shadow process, the upstreams and wrk share CPU 1.
The proxy's shadow counters are read at the end: the copies compared (and dropped, which would
flatter shadow mode) are reported, with the CPU time per request of the proxy in each mode and
of the shadow process per copy.

Prints both p50s, their ratio (passthrough = baseline; target: shadow <= 1.10x) and writes
``bench/results/shadow_overhead.json``.

Run: ``.venv/bin/python -m bench.shadow_overhead [--seconds 8] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.processes import REPO_ROOT, free_port, running
from bench.wrk import WrkResult, run_wrk, wait_http
from proxy.admin_client import await_loaded
from proxy.config_edit import update_route

RESULTS = REPO_ROOT / "bench" / "results" / "shadow_overhead.json"
PATH = "/api/inventory/products/"
TOKEN = "bench-token"

ROUTES = """\
upstreams:
  monolith: {{url: "http://127.0.0.1:{primary}"}}
  inventory: {{url: "http://127.0.0.1:{target}", timeout_s: 2}}
routes:
  - name: bench
    match: {{path_prefix: /api/, methods: [GET, HEAD]}}
    mode: monolith
    target: inventory
    compare: {{ignore: ["$.results[*].updated_at"]}}
"""


def _set_mode(routes: Path, admin: str, mode: str) -> None:
    change = update_route(routes, "bench", actor="bench", mode=mode)
    loaded = await_loaded(admin, TOKEN, routes, change.digest)
    if not loaded.live:
        raise SystemExit(f"the proxy did not load mode {mode}: {loaded.detail}")


def _shadow_counts(admin: str) -> dict[str, int]:
    stats = httpx.get(
        f"{admin}/admin/stats", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5
    ).json()
    return dict(stats["routes"]["bench"]["shadow"])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _pin_shadow_process(proxy_pid: int, cpu: int) -> int:
    """Move the proxy's shadow process (it inherits the proxy's pinning) to ``cpu``."""
    for child in _children(proxy_pid):
        cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        if b"spawn_main" in cmdline:
            os.sched_setaffinity(child, {cpu})
            return child
    raise SystemExit("the proxy's shadow process was not found")


def _measure(url: str, args: argparse.Namespace, script: Path) -> WrkResult:
    result = run_wrk(
        url,
        seconds=args.seconds,
        connections=args.connections,
        cpus="1",
        script=script,
    )
    if result.non_2xx or result.socket_errors:
        raise SystemExit(f"{url}: {result.non_2xx} non-2xx, {result.socket_errors} socket errors")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--delay-ms", type=int, default=5, help="pause per connection")
    parser.add_argument("--rows", type=int, default=20, help="products per page")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-shadow-"))
    var = work / "var"
    var.mkdir()
    script = work / "pace.lua"
    script.write_text(f"function delay()\n  return {args.delay_ms}\nend\n")
    primary, target, listen, admin_port = (free_port() for _ in range(4))
    routes = var / "routes.yaml"
    routes.write_text(ROUTES.format(primary=primary, target=target))
    env = {
        "STRANGLER_VAR_DIR": str(var),
        "PROXY_ROUTES_FILE": str(routes),
        "PROXY_LISTEN": f"127.0.0.1:{listen}",
        "PROXY_ADMIN_LISTEN": f"127.0.0.1:{admin_port}",
        "PROXY_ADMIN_TOKEN": TOKEN,
        "PROXY_RELOAD_INTERVAL_S": "0.2",
    }
    upstream = [sys.executable, "-m", "bench.fast_upstream"]
    page = ["--page", str(args.rows)]
    admin = f"http://127.0.0.1:{admin_port}"
    url = f"http://127.0.0.1:{listen}{PATH}"
    rounds: dict[str, list[WrkResult]] = {"passthrough": [], "shadow": []}
    shadow_counts: dict[str, int] = {}
    cpu = {"passthrough": 0.0, "shadow": 0.0}
    shadow_cpu_s = 0.0
    with (
        running([*upstream, str(primary), *page], log=work / "primary.log", cpus="1"),
        running([*upstream, str(target), *page, "--indent"], log=work / "target.log", cpus="1"),
        running(
            [sys.executable, "-m", "proxy"], log=work / "proxy.log", env=env, cpus="0"
        ) as proxy,
    ):
        wait_http(f"http://127.0.0.1:{primary}/")
        wait_http(f"http://127.0.0.1:{target}/")
        wait_http(f"{admin}/health")
        shadow_pid = _pin_shadow_process(proxy.pid, 1)
        run_wrk(url, seconds=1, connections=args.connections)  # warm up
        for _ in range(args.rounds):
            for mode, label in (("monolith", "passthrough"), ("shadow", "shadow")):
                _set_mode(routes, admin, mode)
                before = _cpu_seconds(proxy.pid)
                rounds[label].append(_measure(url, args, script))
                cpu[label] += _cpu_seconds(proxy.pid) - before
        shadow_cpu_s = _cpu_seconds(shadow_pid)
        shadow_counts = _shadow_counts(admin)

    passthrough_p50 = statistics.median(r.p50_ms for r in rounds["passthrough"])
    shadow_p50 = statistics.median(r.p50_ms for r in rounds["shadow"])
    ratio = shadow_p50 / passthrough_p50
    rates = {label: statistics.median(r.requests_per_s for r in rs) for label, rs in rounds.items()}
    cpu_us = {
        label: 1e6 * cpu[label] / sum(r.requests for r in results)
        for label, results in rounds.items()
    }
    print(
        f"{'':<14}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'proxy CPU/req':>15}"
        f"   (medians of {args.rounds} rounds)"
    )
    for label, results in rounds.items():
        p99 = statistics.median(r.p99_ms for r in results)
        p50 = statistics.median(r.p50_ms for r in results)
        print(
            f"{label:<14}{rates[label]:>10,.0f}{p50:>10.3f}{p99:>10.3f}{cpu_us[label]:>12,.0f} us"
        )
    print(
        f"\nshadow client p50: {ratio:.3f}x passthrough ({shadow_p50 - passthrough_p50:+.3f} ms; "
        f"target <= 1.10x) at ~{rates['passthrough']:,.0f} req/s offered to both; "
        f"shadow copies compared {shadow_counts.get('compared', 0):,}, "
        f"mismatched {shadow_counts.get('mismatched', 0):,}, "
        f"dropped {shadow_counts.get('dropped', 0):,}; the shadow process (CPU 1) spent "
        f"{1e6 * shadow_cpu_s / max(1, shadow_counts['compared']):,.0f} us per copy"
    )
    data: dict[str, Any] = {
        "benchmark": "shadow_overhead",
        "at": datetime.now(UTC).isoformat(),
        "path": PATH,
        "rows": args.rows,
        "seconds": args.seconds,
        "connections": args.connections,
        "delay_ms": args.delay_ms,
        "rounds": args.rounds,
        "baseline": "passthrough",
        "passthrough_p50_ms": passthrough_p50,
        "shadow_p50_ms": shadow_p50,
        "p50_ratio": ratio,
        "requests_per_s": rates,
        "proxy_cpu_us_per_request": cpu_us,
        "shadow_process_cpu_us_per_copy": 1e6 * shadow_cpu_s / max(1, shadow_counts["compared"]),
        "shadow_counts": shadow_counts,
        "passthrough_rounds": [r.as_dict() for r in rounds["passthrough"]],
        "shadow_rounds": [r.as_dict() for r in rounds["shadow"]],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()

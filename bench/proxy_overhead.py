"""What does the proxy cost in front of the monolith?

Starts the monolith on SQLite (migrated and seeded in a scratch var folder, served by gunicorn
exactly as ``strangler/stack.py`` runs it) and the proxy (``python -m proxy``, all routes in
``monolith`` mode), then drives ``GET /api/inventory/products/SKU-00001/`` with ``wrk`` directly
and through the proxy. Prints req/s and p50 of both and their ratio (direct = baseline), and
writes ``bench/results/proxy_overhead.json``.

Nothing is pinned: the monolith (gunicorn, 2 workers x 4 threads), the proxy and wrk share the
machine's 2 cores, as they do in ``strangler up``. The monolith is the bottleneck and its rate
drifts, so direct and proxied runs alternate (``--rounds``) and the medians are compared. The
proxy's own cost is also reported as CPU time per request (from ``/proc``), a steadier figure;
its ceiling on one core is what ``bench.proxy_capacity`` measures.

Connections default to 8, one per monolith thread. With more keep-alive connections than threads,
gunicorn's gthread worker serves far less, while the proxy's pool keeps its own connections to
the monolith and its rate does not drop: a comparison at 16 flatters the proxy (it can come out
"faster" than direct).

Run: ``.venv/bin/python -m bench.proxy_overhead [--seconds 8] [--connections 8]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from bench.processes import BENCH_MONOLITH_WORKERS, REPO_ROOT, free_port, running
from bench.wrk import WrkResult, run_wrk, wait_http
from strangler.stack import Ports, stack_processes

PATH = "/api/inventory/products/SKU-00001/"
RESULTS = REPO_ROOT / "bench" / "results" / "proxy_overhead.json"


def _prepare_monolith(env: dict[str, str]) -> None:
    for argv in (
        [sys.executable, "monolith/manage.py", "migrate", "--noinput"],
        [sys.executable, "monolith/manage.py", "seed_inventory", "--products", "100"],
    ):
        done = subprocess.run(argv, env=env, cwd=REPO_ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv[1:])} failed:\n{done.stdout}{done.stderr}")


def _measure(url: str, seconds: int, connections: int) -> WrkResult:
    result = run_wrk(url, seconds=seconds, connections=connections)
    if result.non_2xx or result.socket_errors:
        raise SystemExit(f"{url}: {result.non_2xx} non-2xx, {result.socket_errors} socket errors")
    return result


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _median(results: list[WrkResult]) -> WrkResult:
    ordered = sorted(results, key=lambda r: r.requests_per_s)
    return ordered[len(ordered) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--path", default=PATH, help=f"the path measured (default {PATH})")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-proxy-overhead-"))
    var = work / "var"
    var.mkdir()
    ports = Ports(free_port(), free_port(), free_port(), free_port())
    env = {
        "STRANGLER_VAR_DIR": str(var),
        "DATABASE_URL": f"sqlite:///{var / 'monolith.sqlite3'}",
        "PROXY_LISTEN": f"127.0.0.1:{ports.proxy}",
        "PROXY_ADMIN_LISTEN": f"127.0.0.1:{ports.admin}",
        "PROXY_ROUTES_FILE": str(var / "routes.yaml"),
    }
    full_env = {**os.environ, **env}
    _prepare_monolith(full_env)
    routes = (REPO_ROOT / "proxy" / "routes.default.yaml").read_text()
    (var / "routes.yaml").write_text(
        routes.replace("127.0.0.1:8000", f"127.0.0.1:{ports.monolith}").replace(
            "127.0.0.1:8101", f"127.0.0.1:{ports.inventory}"
        )
    )
    specs = {
        spec.name: spec for spec in stack_processes(ports, monolith_workers=BENCH_MONOLITH_WORKERS)
    }
    monolith, proxy = specs["monolith"], specs["proxy"]
    monolith_argv = [a for a in monolith.argv if a not in ("--access-logfile", "-")]
    directs: list[WrkResult] = []
    proxieds: list[WrkResult] = []
    proxy_cpu = 0.0
    with running(monolith_argv, log=work / "monolith.log", env=env):
        direct_url = f"http://127.0.0.1:{ports.monolith}{args.path}"
        proxy_url = f"http://127.0.0.1:{ports.proxy}{args.path}"
        wait_http(direct_url)
        with running(list(proxy.argv), log=work / "proxy.log", env=env) as proxy_proc:
            assert proxy.ready_url is not None
            wait_http(proxy.ready_url)
            run_wrk(proxy_url, seconds=1, connections=args.connections)  # warm both up
            for _ in range(args.rounds):
                directs.append(_measure(direct_url, args.seconds, args.connections))
                before = _cpu_seconds(proxy_proc.pid)
                proxieds.append(_measure(proxy_url, args.seconds, args.connections))
                proxy_cpu += _cpu_seconds(proxy_proc.pid) - before
    direct, proxied = _median(directs), _median(proxieds)
    cpu_us_per_request = 1e6 * proxy_cpu / sum(r.requests for r in proxieds)

    ratio = proxied.requests_per_s / direct.requests_per_s
    print(f"{'':<16}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    for label, r in (("direct", direct), ("through proxy", proxied)):
        print(f"{label:<16}{r.requests_per_s:>10,.0f}{r.p50_ms:>10.2f}{r.p99_ms:>10.2f}")
    print(
        f"\nthrough the proxy: {ratio:.2f}x the direct throughput, "
        f"p50 +{proxied.p50_ms - direct.p50_ms:.2f} ms; "
        f"proxy CPU {cpu_us_per_request:.0f} us per request "
        f"(medians of {args.rounds} alternating rounds)"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "proxy_overhead",
                "at": datetime.now(UTC).isoformat(),
                "path": args.path,
                "seconds": args.seconds,
                "connections": args.connections,
                "baseline": "direct",
                "direct": direct.as_dict(),
                "proxy": proxied.as_dict(),
                "rounds": args.rounds,
                "direct_rounds": [r.as_dict() for r in directs],
                "proxy_rounds": [r.as_dict() for r in proxieds],
                "proxy_cpu_us_per_request": cpu_us_per_request,
                "throughput_ratio": ratio,
                "p50_added_ms": proxied.p50_ms - direct.p50_ms,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()

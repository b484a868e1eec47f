"""Which upstream client should the proxy use? The same minimal proxy (``bench/minimal_proxy.py``)
with each client, in front of the same fast upstream (``bench/fast_upstream.py``), under ``wrk``.

The proxy is pinned to CPU 0 (one core, as the proxy runs); the upstream and wrk share CPU 1.
Prints req/s and p50 of each client and the ratio to plain ``httpx.AsyncClient`` (the baseline),
and writes ``bench/results/upstream_client.json``. A last row runs the real proxy
(``python -m proxy``: routing, header hygiene, metrics) with its aiohttp client in the same place,
to show what the full hot path costs over the minimal one.

Run: ``.venv/bin/python -m bench.upstream_client [--seconds 8] [--connections 32]``
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from bench.processes import REPO_ROOT, free_port, running
from bench.wrk import WrkResult, run_wrk, wait_http

CLIENTS = ("httpx", "httpx-aiohttp", "aiohttp")
#: Extra rows: (label, client, server) - the same client on the other server measured.
SERVERS = (("aiohttp on uvicorn", "aiohttp", "uvicorn"),)
BASELINE = "httpx"
RESULTS = REPO_ROOT / "bench" / "results" / "upstream_client.json"


def _full_proxy(upstream: str, logs: Path, seconds: int, connections: int) -> WrkResult:
    var = logs / "var"
    var.mkdir()
    routes = var / "routes.yaml"
    text = (REPO_ROOT / "proxy" / "routes.default.yaml").read_text()
    routes.write_text(text.replace("http://127.0.0.1:8000", upstream))
    port, admin = free_port(), free_port()
    env = {
        "STRANGLER_VAR_DIR": str(var),
        "PROXY_ROUTES_FILE": str(routes),
        "PROXY_LISTEN": f"127.0.0.1:{port}",
        "PROXY_ADMIN_LISTEN": f"127.0.0.1:{admin}",
    }
    with running([sys.executable, "-m", "proxy"], log=logs / "proxy-full.log", env=env, cpus="0"):
        url = f"http://127.0.0.1:{port}/api/inventory/products/SKU-00001/"
        wait_http(f"http://127.0.0.1:{admin}/health")
        run_wrk(url, seconds=1, connections=connections, cpus="1")
        return run_wrk(url, seconds=seconds, connections=connections, cpus="1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()

    logs = Path(tempfile.mkdtemp(prefix="bench-upstream-client-"))
    upstream_port = free_port()
    results: dict[str, WrkResult] = {}
    with running(
        [sys.executable, "-m", "bench.fast_upstream", str(upstream_port)],
        log=logs / "upstream.log",
        cpus="1",
    ):
        upstream = f"http://127.0.0.1:{upstream_port}"
        wait_http(upstream + "/")
        direct = run_wrk(upstream + "/", seconds=2, connections=args.connections, cpus="1")
        print(f"upstream alone: {direct.requests_per_s:,.0f} req/s (ceiling for every proxy)")
        variants = [(client, client, "aiohttp") for client in CLIENTS] + list(SERVERS)
        for label, client, server in variants:
            port = free_port()
            argv = [
                sys.executable,
                "-m",
                "bench.minimal_proxy",
                client,
                str(port),
                upstream,
                server,
            ]
            with running(argv, log=logs / f"proxy-{client}-{server}.log", cpus="0"):
                url = f"http://127.0.0.1:{port}/api/inventory/products/SKU-00001/"
                wait_http(url)
                run_wrk(url, seconds=1, connections=args.connections, cpus="1")  # warm up
                result = run_wrk(url, seconds=args.seconds, connections=args.connections, cpus="1")
            if result.non_2xx or result.socket_errors:
                raise SystemExit(
                    f"{label}: {result.non_2xx} non-2xx, {result.socket_errors} errors"
                )
            results[label] = result
        results["proxy/app.py (full)"] = _full_proxy(upstream, logs, args.seconds, args.connections)

    base = results[BASELINE]
    print(f"\n{'client':<20}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'x ' + BASELINE:>12}")
    for label, r in results.items():
        ratio = r.requests_per_s / base.requests_per_s
        print(
            f"{label:<20}{r.requests_per_s:>10,.0f}{r.p50_ms:>10.2f}{r.p99_ms:>10.2f}"
            f"{ratio:>11.2f}x"
        )
    best = max(CLIENTS, key=lambda c: results[c].requests_per_s)
    print(
        f"\nfastest: {best}, {results[best].requests_per_s / base.requests_per_s:.1f}x {BASELINE}"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "upstream_client",
                "at": datetime.now(UTC).isoformat(),
                "seconds": args.seconds,
                "connections": args.connections,
                "upstream_alone": direct.as_dict(),
                "baseline": BASELINE,
                "results": {c: r.as_dict() for c, r in results.items()},
                "ratios_to_baseline": {
                    c: r.requests_per_s / base.requests_per_s for c, r in results.items()
                },
                "fastest": best,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()

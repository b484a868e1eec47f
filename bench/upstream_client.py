"""Which upstream client (and server) should the proxy use? The same minimal proxy
(``bench/minimal_proxy.py``) with each client, in front of the same fast upstream
(``bench/fast_upstream.py``), under ``wrk``.

Every proxy variant is pinned to CPU 0 (one core, as the proxy runs); the upstream and wrk share
CPU 1. All variants are started once and measured in interleaved rounds (``--rounds``), and the
median round of each is reported, so load that drifts during the run (a shared machine) hits
every variant alike. Prints req/s and p50 of each and the ratio to plain ``httpx.AsyncClient``
(the baseline), and writes ``bench/results/upstream_client.json``.

Rows: the three clients on aiohttp's low-level server; the aiohttp client on uvicorn (raw ASGI,
uvloop + httptools) to compare servers; and the real proxy (``python -m proxy``: routing, header
hygiene, metrics) to show what the full hot path costs over the minimal one.

Run: ``.venv/bin/python -m bench.upstream_client [--seconds 5] [--rounds 3] [--connections 32]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.processes import REPO_ROOT, free_port, running
from bench.wrk import WrkResult, run_wrk, wait_http

CLIENTS = ("httpx", "httpx-aiohttp", "aiohttp")
BASELINE = "httpx"
PATH = "/api/inventory/products/SKU-00001/"
RESULTS = REPO_ROOT / "bench" / "results" / "upstream_client.json"


@dataclass(frozen=True)
class Variant:
    label: str
    argv: list[str]
    env: dict[str, str]
    url: str
    ready_url: str


def _minimal(label: str, client: str, server: str, upstream: str) -> Variant:
    port = free_port()
    argv = [sys.executable, "-m", "bench.minimal_proxy", client, str(port), upstream, server]
    url = f"http://127.0.0.1:{port}{PATH}"
    return Variant(label, argv, {}, url, url)


def _full_proxy(upstream: str, var: Path) -> Variant:
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
    return Variant(
        "proxy/app.py (full)",
        [sys.executable, "-m", "proxy"],
        env,
        f"http://127.0.0.1:{port}{PATH}",
        f"http://127.0.0.1:{admin}/health",
    )


def _median(results: list[WrkResult]) -> WrkResult:
    return sorted(results, key=lambda r: r.requests_per_s)[len(results) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()

    logs = Path(tempfile.mkdtemp(prefix="bench-upstream-client-"))
    upstream_port = free_port()
    upstream = f"http://127.0.0.1:{upstream_port}"
    variants = [_minimal(c, c, "aiohttp", upstream) for c in CLIENTS]
    variants.append(_minimal("aiohttp on uvicorn", "aiohttp", "uvicorn", upstream))
    variants.append(_full_proxy(upstream, logs / "var"))
    rounds: dict[str, list[WrkResult]] = {v.label: [] for v in variants}
    with ExitStack() as stack:
        stack.enter_context(
            running(
                [sys.executable, "-m", "bench.fast_upstream", str(upstream_port)],
                log=logs / "upstream.log",
                cpus="1",
            )
        )
        wait_http(upstream + "/")
        direct = run_wrk(upstream + "/", seconds=2, connections=args.connections, cpus="1")
        print(f"upstream alone: {direct.requests_per_s:,.0f} req/s (ceiling for every proxy)")
        for n, variant in enumerate(variants):
            stack.enter_context(
                running(variant.argv, log=logs / f"proxy-{n}.log", env=variant.env, cpus="0")
            )
        for variant in variants:
            wait_http(variant.ready_url)
            run_wrk(variant.url, seconds=1, connections=args.connections, cpus="1")  # warm up
        for n in range(args.rounds):
            for variant in variants:
                result = run_wrk(
                    variant.url, seconds=args.seconds, connections=args.connections, cpus="1"
                )
                if result.non_2xx or result.socket_errors:
                    raise SystemExit(
                        f"{variant.label}: {result.non_2xx} non-2xx, "
                        f"{result.socket_errors} socket errors"
                    )
                rounds[variant.label].append(result)
            print(f"round {n + 1}/{args.rounds} done")

    results = {label: _median(runs) for label, runs in rounds.items()}
    base = results[BASELINE]
    print(f"\n{'variant':<22}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'x ' + BASELINE:>12}")
    for label, r in results.items():
        ratio = r.requests_per_s / base.requests_per_s
        print(
            f"{label:<22}{r.requests_per_s:>10,.0f}{r.p50_ms:>10.2f}{r.p99_ms:>10.2f}"
            f"{ratio:>11.2f}x"
        )
    best = max(CLIENTS, key=lambda c: results[c].requests_per_s)
    server_ratio = results["aiohttp"].requests_per_s / results["aiohttp on uvicorn"].requests_per_s
    print(
        f"\nfastest client: {best}, {results[best].requests_per_s / base.requests_per_s:.1f}x "
        f"{BASELINE}; aiohttp server / uvicorn server: {server_ratio:.2f}x "
        f"(medians of {args.rounds} interleaved rounds)"
    )
    spread = {
        label: statistics.pstdev([r.requests_per_s for r in runs]) for label, runs in rounds.items()
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "upstream_client",
                "at": datetime.now(UTC).isoformat(),
                "seconds": args.seconds,
                "rounds": args.rounds,
                "connections": args.connections,
                "upstream_alone": direct.as_dict(),
                "baseline": BASELINE,
                "results": {label: r.as_dict() for label, r in results.items()},
                "all_rounds": {
                    label: [r.as_dict() for r in runs] for label, runs in rounds.items()
                },
                "requests_per_s_stdev": spread,
                "ratios_to_baseline": {
                    label: r.requests_per_s / base.requests_per_s for label, r in results.items()
                },
                "fastest_client": best,
                "aiohttp_server_over_uvicorn": server_ratio,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()

"""How much can one proxy process carry, next to nginx, and what does it add to one request?

Two questions from issue 5, one run:

* **Capacity**: one ``python -m proxy`` process and nginx with one worker (``proxy_pass`` with an
  upstream keep-alive pool), both pinned to CPU 0, in front of the same trivial upstream
  (``bench/fast_upstream.py``, CPU 1), driven by ``wrk`` on CPU 1 with ``--connections``
  keep-alive connections. Rounds interleave; medians are compared. Figure: proxy / nginx.
* **Added latency**: p50 at one connection through the proxy minus p50 straight to the upstream
  (and the same for nginx, for scale).
* **The exported table** (``export``): a second nginx, one worker, serving what
  ``strangler routes export nginx`` renders from the proxy's own route table (its header hygiene,
  request ids and route jump included), on the same core: the data plane a team would run
  instead of our proxy (docs/engines.md).

The proxy runs its full hot path (routing, header hygiene, request ids and trace context,
metrics) with every route in ``monolith`` mode pointed at the fast upstream. Writes
``bench/results/proxy_capacity.json``.

``--proxy-cpu 1`` runs nginx and the proxy on wrk's core instead (capacity figures are then
shared-core figures; the one-connection p50 then excludes cross-core wake-ups).

Run: ``.venv/bin/python -m bench.proxy_capacity [--seconds 5] [--rounds 3] [--connections 32]
[--variants nginx,proxy,export] [--proxy-cpu 1]``
(needs ``nginx``; Debian: ``apt-get install nginx-light``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from bench.processes import REPO_ROOT, free_port, running
from bench.wrk import WrkResult, run_wrk, wait_http

PATH = "/api/inventory/products/SKU-00001/"
RESULTS = REPO_ROOT / "bench" / "results" / "proxy_capacity.json"

#: One nginx process of one worker, its files under ``{work}`` named after it: the minimal
#: ``proxy_pass`` baseline (``nginx``) and the exported table (``export``) take the same shape.
NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {work}/{name}.pid;
error_log {work}/{name}-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {work}/{name}-body;
    proxy_temp_path {work}/{name}-proxy;
    fastcgi_temp_path {work}/{name}-fastcgi;
    uwsgi_temp_path {work}/{name}-uwsgi;
    scgi_temp_path {work}/{name}-scgi;
{http}
}}
"""
#: The baseline's ``http`` block: ``proxy_pass`` with a keep-alive pool, nothing else.
MINIMAL_HTTP = """\
    upstream app {{ server 127.0.0.1:{upstream}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For $remote_addr;
        }}
    }}"""


def _nginx_conf(work: Path, name: str, http: str) -> Path:
    """``work/<name>.conf``: NGINX_CONF around ``http``."""
    path = work / f"{name}.conf"
    path.write_text(NGINX_CONF.format(work=work, name=name, http=http))
    return path


#: The proxy's table, and the export's: every read of the API to the monolith (the upstream).
ROUTES = """\
upstreams:
  monolith: {{url: "{upstream}"}}
routes:
  - name: reads
    match: {{path_prefix: /api/, methods: [GET, HEAD]}}
    mode: monolith
"""


def _median(results: list[WrkResult]) -> WrkResult:
    return sorted(results, key=lambda r: r.requests_per_s)[len(results) // 2]


def _checked(label: str, result: WrkResult) -> WrkResult:
    if result.non_2xx or result.socket_errors:
        raise SystemExit(f"{label}: {result.non_2xx} non-2xx, {result.socket_errors} socket errors")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--variants",
        default="nginx,proxy,export",
        help="comma-separated, from nginx, proxy, export (nginx from the exported table); "
        "nginx is required",
    )
    parser.add_argument(
        "--proxy-cpu",
        default="0",
        help="CPU for nginx and the proxy (default 0; 1 puts them on the core of wrk and the "
        "upstream: no cross-core wake-ups, so one-connection latency shows processing alone)",
    )
    args = parser.parse_args()
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if "nginx" not in variants or not set(variants) <= {"nginx", "proxy", "export"}:
        raise SystemExit("bench.proxy_capacity: --variants takes nginx (required), proxy, export")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        raise SystemExit("bench.proxy_capacity: needs nginx (Debian: apt-get install nginx-light)")

    work = Path(tempfile.mkdtemp(prefix="bench-proxy-capacity-"))
    upstream_port, nginx_port, proxy_port, admin_port, export_port = (free_port() for _ in range(5))
    upstream = f"http://127.0.0.1:{upstream_port}"
    confs = {
        "nginx": _nginx_conf(
            work, "nginx", MINIMAL_HTTP.format(upstream=upstream_port, port=nginx_port)
        )
    }
    var = work / "var"
    var.mkdir()
    (var / "routes.yaml").write_text(ROUTES.format(upstream=upstream))
    if "export" in variants:
        subprocess.run(
            [
                *(sys.executable, "-m", "strangler.cli", "routes", "export", "nginx"),
                *("-f", str(var / "routes.yaml"), "--listen", f"127.0.0.1:{export_port}"),
                *("-o", str(work / "exported.conf")),
            ],
            cwd=REPO_ROOT,
            check=True,
        )
        confs["export"] = _nginx_conf(work, "export", f"    include {work}/exported.conf;")
    proxy_env = {
        "STRANGLER_VAR_DIR": str(var),
        "PROXY_ROUTES_FILE": str(var / "routes.yaml"),
        "PROXY_LISTEN": f"127.0.0.1:{proxy_port}",
        "PROXY_ADMIN_LISTEN": f"127.0.0.1:{admin_port}",
    }
    urls = {
        "direct": f"{upstream}{PATH}",
        "nginx": f"http://127.0.0.1:{nginx_port}{PATH}",
        "proxy": f"http://127.0.0.1:{proxy_port}{PATH}",
        "export": f"http://127.0.0.1:{export_port}{PATH}",
    }
    capacity: dict[str, list[WrkResult]] = {label: [] for label in variants}
    single: dict[str, list[WrkResult]] = {"direct": [], **{label: [] for label in variants}}
    with ExitStack() as stack:
        stack.enter_context(
            running(
                [sys.executable, "-m", "bench.fast_upstream", str(upstream_port)],
                log=work / "upstream.log",
                cpus="1",
            )
        )
        for name, conf in confs.items():
            stack.enter_context(
                running(
                    [nginx, "-c", str(conf), "-e", str(work / f"{name}-error.log")],
                    log=work / f"{name}.log",
                    cpus=args.proxy_cpu,
                )
            )
        if "proxy" in variants:
            stack.enter_context(
                running(
                    [sys.executable, "-m", "proxy"],
                    log=work / "proxy.log",
                    env=proxy_env,
                    cpus=args.proxy_cpu,
                )
            )
            wait_http(f"http://127.0.0.1:{admin_port}/health")
        wait_http(urls["direct"])
        wait_http(urls["nginx"])
        if "export" in variants:
            wait_http(urls["export"])
        for label in variants:  # warm up
            run_wrk(urls[label], seconds=1, connections=args.connections, cpus="1")
        for n in range(args.rounds):
            for label in capacity:
                capacity[label].append(
                    _checked(
                        label,
                        run_wrk(
                            urls[label],
                            seconds=args.seconds,
                            connections=args.connections,
                            cpus="1",
                        ),
                    )
                )
            for label in single:
                single[label].append(
                    _checked(
                        label, run_wrk(urls[label], seconds=args.seconds, connections=1, cpus="1")
                    )
                )
            print(f"round {n + 1}/{args.rounds} done", flush=True)

    cap = {label: _median(runs) for label, runs in capacity.items()}
    lat = {label: sorted(r.p50_ms for r in runs)[len(runs) // 2] for label, runs in single.items()}
    ratios = {
        label: cap[label].requests_per_s / cap["nginx"].requests_per_s
        for label in variants
        if label != "nginx"
    }
    added_us = {label: 1000 * (lat[label] - lat["direct"]) for label in variants}
    where = "one core each" if args.proxy_cpu == "0" else f"all on CPU {args.proxy_cpu}"
    print(f"\ncapacity at {args.connections} connections ({where}):")
    for label, r in cap.items():
        print(
            f"  {label:<8}{r.requests_per_s:>10,.0f} req/s  "
            f"p50 {r.p50_ms:.2f} ms  p99 {r.p99_ms:.2f} ms"
        )
    for label, ratio in ratios.items():
        print(f"  {label} / nginx: {ratio:.3f}x")
    if {"proxy", "export"} <= set(cap):
        print(f"  proxy / export: {ratios['proxy'] / ratios['export']:.3f}x")
    print("p50 at one connection:")
    for label, p50 in lat.items():
        extra = f"  (+{added_us[label]:.0f} us over direct)" if label in added_us else ""
        print(f"  {label:<8}{1000 * p50:>8.0f} us{extra}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "proxy_capacity",
                "at": datetime.now(UTC).isoformat(),
                "seconds": args.seconds,
                "rounds": args.rounds,
                "connections": args.connections,
                "proxy_cpu": args.proxy_cpu,
                "baseline": "nginx, one worker, proxy_pass with keepalive",
                "capacity": {label: r.as_dict() for label, r in cap.items()},
                "variants": variants,
                **(
                    {"capacity_ratio_proxy_over_nginx": ratios["proxy"]}
                    if "proxy" in ratios
                    else {}
                ),
                "capacity_ratio_over_nginx": ratios,
                "p50_one_connection_ms": lat,
                "added_p50_us_over_direct": added_us,
                "all_rounds": {
                    "capacity": {k: [r.as_dict() for r in v] for k, v in capacity.items()},
                    "one_connection": {k: [r.as_dict() for r in v] for k, v in single.items()},
                },
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()

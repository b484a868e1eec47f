"""Where does one proxy process spend its CPU? A sampled breakdown, and what cheap cuts would buy.

Two measurements, one run, against the same setup as ``bench.proxy_capacity`` (``python -m
proxy`` pinned to CPU 0, every route in ``monolith`` mode pointed at ``bench/fast_upstream.py``
on CPU 1, ``wrk`` on CPU 1 with ``--connections`` keep-alive connections):

* **Profile**: ``py-spy record`` samples the proxy while ``wrk`` loads it. Every sample is given
  to one part of the hot path by its innermost frame that belongs to a known part (the client
  listener ``proxy/listener.py``, header hygiene and framing ``proxy/wire.py``, the upstream
  client ``proxy/upstream_client.py``, routing, retries and breakers, metrics, httptools,
  asyncio/uvloop); a sample with no Python frame above the event loop
  is the loop itself (uvloop's C code: polling, socket reads and writes). With ``--native``, C
  frames are sampled too, but py-spy must then pause the process for every sample, which
  slows the proxy down several-fold: read ``--native`` for C hot spots only.
* **Ablations** (``--ablate``): the same proxy with metrics not recorded, interleaved with the
  full proxy over ``--rounds`` rounds: the req/s the stub gains is the most that making metrics
  cheaper could gain. The stubs exist only in this benchmark's processes (``--serve-ablated``);
  ``proxy/`` is not changed.

Prints the top costs and writes ``bench/results/profile_proxy.json``. Needs ``py-spy``
(``pip install -e '.[dev]'``) and ``wrk``.

Run: ``.venv/bin/python -m bench.profile_proxy [--seconds 8] [--connections 32] [--native]
[--ablate --rounds 3]``
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.processes import REPO_ROOT, free_port, running
from bench.wrk import WrkResult, run_wrk, wait_http

PATH = "/api/inventory/products/SKU-00001/"
RESULTS = REPO_ROOT / "bench" / "results" / "profile_proxy.json"

#: Parts of the hot path, tried innermost frame first: (part, pattern over "function (file").
#: Our own modules come before the libraries they call, so a multidict copy made by
#: proxy/headers.py counts as header hygiene, and prometheus-client under proxy/metrics.py as
#: metrics.
PARTS: list[tuple[str, re.Pattern[str]]] = [
    ("metrics", re.compile(r"prometheus_client/|proxy/metrics\.py")),
    ("header hygiene + framing (proxy/wire.py)", re.compile(r"proxy/(wire|headers)\.py")),
    (
        "routing decision",
        re.compile(r"proxy/(routing|sticky|read_your_writes|config)\.py"),
    ),
    ("retry budget + breaker", re.compile(r"proxy/(resilience|retrying)\.py")),
    ("upstream client (proxy/upstream_client.py)", re.compile(r"proxy/upstream_client\.py")),
    ("client listener (proxy/listener.py)", re.compile(r"proxy/listener\.py")),
    ("httptools", re.compile(r"httptools/")),
    ("asyncio / uvloop (Python side)", re.compile(r"asyncio/|uvloop/")),
]
#: The frames that run the loop: a sample whose innermost Python frame is one of them is in C.
_LOOP_ROOT = re.compile(
    r"^(Runner\.run|run|run_until_complete|run_forever) "
    r"\(.*(asyncio/runners|uvloop/__init__|asyncio/base_events)\.py"
)
EVENT_LOOP = "event loop (uvloop C: poll, socket I/O)"
OTHER = "other"

# The proxy with one part stubbed (--serve-ablated NAME): only this process is patched.
ABLATIONS = ("none", "metrics")


def _serve_ablated(name: str) -> int:
    from proxy import __main__ as proxy_main
    from proxy import metrics as proxy_metrics

    if name == "metrics":
        proxy_metrics.ProxyMetrics.observe_request = (  # type: ignore[method-assign]
            lambda self, **kwargs: None
        )
    return proxy_main.main()


def classify(stack: str) -> str:
    """The part of the hot path a collapsed stack (root;...;leaf) belongs to."""
    frames = stack.split(";")
    if _LOOP_ROOT.search(frames[-1]):
        return EVENT_LOOP  # no Python frame above the loop: uvloop's own C code
    for frame in reversed(frames):
        for part, pattern in PARTS:
            if pattern.search(frame):
                return part
    if any("uvloop" in f or "run_forever" in f or "serve" in f for f in frames[-3:]):
        return EVENT_LOOP
    return OTHER if len(frames) > 3 else EVENT_LOOP


def breakdown(raw: str) -> tuple[Counter[str], Counter[str], int]:
    """Samples per part, and per leaf function (the hottest single frames)."""
    parts: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        parts[classify(stack)] += n
        leaf = stack.split(";")[-1]
        leaves[re.sub(r":\d+\)$", ")", leaf)] += n
    return parts, leaves, total


def _setup(work: Path, upstream_port: int, proxy_port: int, admin_port: int) -> dict[str, str]:
    var = work / "var"
    var.mkdir(exist_ok=True)
    upstream = f"http://127.0.0.1:{upstream_port}"
    (var / "routes.yaml").write_text(f"upstreams:\n  monolith: {{url: {upstream}}}\nroutes: []\n")
    return {
        "STRANGLER_VAR_DIR": str(var),
        "PROXY_ROUTES_FILE": str(var / "routes.yaml"),
        "PROXY_LISTEN": f"127.0.0.1:{proxy_port}",
        "PROXY_ADMIN_LISTEN": f"127.0.0.1:{admin_port}",
    }


def profile(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(pyspy).exists():
        raise SystemExit("bench.profile_proxy: needs py-spy (pip install -e '.[dev]')")
    upstream_port, proxy_port, admin_port = free_port(), free_port(), free_port()
    env = _setup(work, upstream_port, proxy_port, admin_port)
    url = f"http://127.0.0.1:{proxy_port}{PATH}"
    out = work / "pyspy.txt"
    with ExitStack() as stack:
        stack.enter_context(
            running(
                [sys.executable, "-m", "bench.fast_upstream", str(upstream_port)],
                log=work / "upstream.log",
                cpus="1",
            )
        )
        proxy = stack.enter_context(
            running([sys.executable, "-m", "proxy"], log=work / "proxy.log", env=env, cpus="0")
        )
        wait_http(f"http://127.0.0.1:{admin_port}/health")
        run_wrk(url, seconds=1, connections=args.connections, cpus="1")  # warm up
        argv = [pyspy, "record", "--pid", str(proxy.pid), "--duration", str(args.seconds)]
        argv += ["--rate", str(args.rate), "--format", "raw", "--output", str(out)]
        argv += ["--native"] if args.native else ["--nonblocking"]  # native must pause it
        # py-spy runs on CPU 1 with wrk: it must not take the proxy's core.
        sampler = subprocess.Popen(
            ["taskset", "-c", "1", *argv], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        time.sleep(0.5)  # let the sampler attach before the load starts
        loaded = run_wrk(url, seconds=args.seconds - 1, connections=args.connections, cpus="1")
        _, err = sampler.communicate(timeout=args.seconds + 30)
        if sampler.returncode != 0 or not out.exists():
            raise SystemExit(f"bench.profile_proxy: py-spy failed: {err.decode().strip()}")
    parts, leaves, total = breakdown(out.read_text())
    print(
        f"profile: {total} samples at {args.rate}/s while wrk ran "
        f"{loaded.requests_per_s:,.0f} req/s (p50 {loaded.p50_ms:.2f} ms)"
    )
    for part, n in parts.most_common():
        print(f"  {100 * n / total:5.1f}%  {part}")
    print("hottest leaf frames:")
    for leaf, n in leaves.most_common(args.top):
        print(f"  {100 * n / total:5.1f}%  {leaf[:110]}")
    return {
        "samples": total,
        "rate_hz": args.rate,
        "native": args.native,
        "load": loaded.as_dict(),
        "parts_share": {part: n / total for part, n in parts.most_common()},
        "top_leaves_share": {leaf: n / total for leaf, n in leaves.most_common(40)},
        "raw_stacks": str(out),  # collapsed stacks (flamegraph.pl input), left in a temp dir
    }


def _median(results: list[WrkResult]) -> WrkResult:
    return sorted(results, key=lambda r: r.requests_per_s)[len(results) // 2]


def ablate(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    upstream_port = free_port()
    runs: dict[str, list[WrkResult]] = {name: [] for name in ABLATIONS}
    urls: dict[str, str] = {}
    with ExitStack() as stack:
        stack.enter_context(
            running(
                [sys.executable, "-m", "bench.fast_upstream", str(upstream_port)],
                log=work / "upstream.log",
                cpus="1",
            )
        )
        for name in ABLATIONS:
            proxy_port, admin_port = free_port(), free_port()
            sub = work / name
            sub.mkdir()
            env = _setup(sub, upstream_port, proxy_port, admin_port)
            stack.enter_context(
                running(
                    [sys.executable, "-m", "bench.profile_proxy", "--serve-ablated", name],
                    log=sub / "proxy.log",
                    env=env,
                    cpus="0",
                )
            )
            wait_http(f"http://127.0.0.1:{admin_port}/health")
            urls[name] = f"http://127.0.0.1:{proxy_port}{PATH}"
            run_wrk(urls[name], seconds=1, connections=args.connections, cpus="1")
        for n in range(args.rounds):
            for name in ABLATIONS:
                result = run_wrk(
                    urls[name], seconds=args.seconds, connections=args.connections, cpus="1"
                )
                if result.non_2xx or result.socket_errors:
                    raise SystemExit(f"{name}: {result.non_2xx} non-2xx, errors")
                runs[name].append(result)
            print(f"ablation round {n + 1}/{args.rounds} done", flush=True)
    med = {name: _median(r) for name, r in runs.items()}
    base = med["none"].requests_per_s
    print(f"ablations at {args.connections} connections (median of {args.rounds} rounds):")
    for name, r in med.items():
        print(
            f"  {name:<8}{r.requests_per_s:>9,.0f} req/s  x{r.requests_per_s / base:.2f} "
            f"full proxy  ({1e6 / r.requests_per_s:.0f} us per request at this rate)"
        )
    return {
        "ablations": {name: r.as_dict() for name, r in med.items()},
        "ratio_over_full_proxy": {n: r.requests_per_s / base for n, r in med.items()},
        "all_rounds": {n: [r.as_dict() for r in v] for n, v in runs.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--native", action="store_true", help="sample C frames too")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--ablate", action="store_true", help="also measure stubbed variants")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-profile-proxy-"))
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    report: dict[str, Any] = {
        "benchmark": "profile_proxy",
        "at": datetime.now(UTC).isoformat(),
        "seconds": args.seconds,
        "connections": args.connections,
        "load_average_at_start": load,
        "profile": profile(args, work),
    }
    if args.ablate:
        report["ablation"] = ablate(args, work)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(REPO_ROOT)} (load average at start {' '.join(load)})")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve-ablated":
        name = sys.argv[2]
        if name not in ABLATIONS:
            raise SystemExit(f"bench.profile_proxy: unknown ablation {name!r}")
        sys.argv = [sys.argv[0]]
        sys.exit(_serve_ablated(name))
    main()

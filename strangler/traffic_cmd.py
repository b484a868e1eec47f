"""`strangler traffic`: steady workshop traffic through the proxy, so a plan's gates have
something to count. Bounded by its duration; prints a live line of counts and a summary; exit
status 1 when any request failed (strangler/traffic.py says what counts as failed)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.table import Table

from strangler.console import stdout_console
from strangler.stack import REPO_ROOT, issue_tokens_step, var_dir
from strangler.traffic import EXPECTED, KINDS, Mix, MixError, Tally, Workload, run_traffic

MAX_RATE = 1000.0
MAX_DURATION_S = 3600.0
MAX_CUSTOMERS = 200
out = stdout_console()


def _fail(message: str) -> NoReturn:
    typer.echo(f"strangler traffic: {message}", err=True)
    raise typer.Exit(1)


def _tokens(usernames: list[str], *, staff: bool, ttl_s: int) -> list[str]:
    """Tokens of workshop accounts (created when missing), minted by the monolith's
    ``issue_token`` command against its database."""
    argv = issue_tokens_step(usernames, staff=staff, ttl_s=ttl_s)
    env = {**os.environ, "STRANGLER_VAR_DIR": str(var_dir())}
    done = subprocess.run(argv, env=env, cwd=REPO_ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        _fail(f"could not issue the workshop accounts' tokens: {last}")
    tokens = done.stdout.split()
    if len(tokens) != len(usernames):
        _fail(f"expected {len(usernames)} tokens from issue_token, got {len(tokens)}")
    return tokens


def _live(tally: Tally) -> None:
    if sys.stderr.isatty():
        sys.stderr.write("\r\x1b[2K" + tally.line())
    else:
        sys.stderr.write(tally.line() + "\n")
    sys.stderr.flush()


def _summary(tally: Tally) -> None:
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    table = Table("kind", "status", "count", "counts as", title="strangler traffic")
    for kind in KINDS:
        for status, count in sorted(tally.by_kind[kind].items()):
            verdict = "ok" if status in EXPECTED[kind] else "failed"
            table.add_row(kind, str(status or "no answer"), str(count), verdict)
    out.print(table)
    out.print(
        f"sent {tally.sent}, ok {tally.ok()}, failed {tally.failures}; "
        f"frozen (503 + Retry-After) {tally.frozen}, of which recovered by a retry "
        f"{tally.frozen_recovered}; late starts {tally.late}"
    )
    for example in tally.examples:
        out.print(f"  failed: {example}")


def traffic(
    rate: Annotated[float, typer.Option(help="Requests per second.")] = 20.0,
    duration: Annotated[float, typer.Option(help="Seconds to run (it stops by itself).")] = 60.0,
    mix: Annotated[
        str, typer.Option(help="Weights of the kinds: read=N,write=N,checkout=N,payment=N.")
    ] = "read=70,write=20,checkout=10",
    clients: Annotated[int, typer.Option(help="Client keys (X-Client-Id) to spread over.")] = 50,
    customers: Annotated[
        int, typer.Option(help="Customer accounts (jwt:sub keys) for checkouts and their reads.")
    ] = 10,
    products: Annotated[int, typer.Option(help="Products SKU-00001.. to touch.")] = 50,
    url: Annotated[
        str, typer.Option(help="Where to send (the proxy; default $STRANGLER_PROXY_URL).")
    ] = "",
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the tally as JSON to this file.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the draws (a run is repeatable).")] = 0,
) -> None:
    """Send reads, writes and checkouts over many client keys through the proxy."""
    if not 0 < rate <= MAX_RATE:
        _fail(f"--rate must be above 0 and at most {MAX_RATE:g}, got {rate:g}")
    if not 0 < duration <= MAX_DURATION_S:
        _fail(f"--duration must be above 0 and at most {MAX_DURATION_S:g} s, got {duration:g}")
    if clients < 1 or products < 1:
        _fail("--clients and --products must be at least 1")
    if not 0 <= customers <= MAX_CUSTOMERS:
        _fail(f"--customers must be between 0 and {MAX_CUSTOMERS}, got {customers}")
    try:
        weights = Mix.parse(mix)
    except MixError as err:
        _fail(f"--mix: {err}")
    if (weights.checkout or weights.payment) and not customers:
        _fail(
            "checkouts and payments need customers: give --customers 1 or more, or "
            "checkout=0 and payment=0 in --mix"
        )
    base_url = url or os.environ.get("STRANGLER_PROXY_URL", "http://127.0.0.1:8080")
    ttl_s = int(duration) + 600
    names = [f"traffic-customer-{n:03d}" for n in range(1, customers + 1)]
    customer_tokens = _tokens(names, staff=False, ttl_s=ttl_s) if names else []
    staff = _tokens(["traffic-staff"], staff=True, ttl_s=ttl_s)[0] if weights.write else None
    workload = Workload(
        base_url=base_url,
        skus=[f"SKU-{n:05d}" for n in range(1, products + 1)],
        customer_tokens=customer_tokens,
        staff_token=staff,
        clients=clients,
    )
    typer.echo(
        f"strangler traffic: {rate:g}/s for {duration:g} s to {base_url} "
        f"({mix}; {clients} client keys, {customers} customers)",
        err=True,
    )
    tally = asyncio.run(
        run_traffic(workload, weights, rate=rate, duration_s=duration, seed=seed, on_tick=_live)
    )
    _summary(tally)
    if json_out is not None:
        json_out.write_text(json.dumps(tally.as_json(), indent=2) + "\n", encoding="utf-8")
    if tally.failures:
        raise typer.Exit(1)

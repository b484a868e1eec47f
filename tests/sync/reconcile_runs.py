"""`strangler sync reconcile --json` as the reconciliation tests run it, and the SKUs that test
its key order."""

from __future__ import annotations

import json
from typing import Any

from tests.sync.rig import SyncRig

#: The exit status of a reconciliation that found drift (and did not repair it).
DRIFT = 3
#: SKUs whose byte order differs from a locale's order ("B" < "_" < "a" < "b" in byte order).
AWKWARD = ("b-zeta", "B-alpha", "_under", "a.dot", "Z9")


def reconcile(rig: SyncRig, *args: str) -> tuple[int, dict[str, Any]]:
    """Its exit status (0 clean or repaired, DRIFT) and its JSON report."""
    done = rig.strangler_sync("reconcile", "--json", *args)
    assert done.returncode in (0, DRIFT), done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return done.returncode, report


def backfill(rig: SyncRig, *aggregates: str, restart: bool = False) -> None:
    """Backfill the inventory jobs named (default: products) with both sides' workers (shared
    with the rig's later tests), waiting until each is done."""
    rig.shared_workers("worker-monolith", "worker-inventory")
    for aggregate in aggregates or ("products",):
        done = rig.strangler_sync(
            "backfill",
            "--aggregate",
            aggregate,
            "--page-size",
            "400",
            "--wait",
            *(["--restart"] if restart else []),
        )
        assert done.returncode == 0, done.stderr

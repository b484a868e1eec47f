"""Real outbox envelopes, taken from the monolith's outbox by its own relay function."""

from __future__ import annotations

import json
from typing import Any

from tests.sync.rig import SyncRig

_CAPTURE = """
import json, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monolith.settings")
import django
django.setup()
from monolith.outbox.relay import relay_batch
seen = []
relay_batch(seen.append, limit=10_000)
print(json.dumps(seen))
"""


def take_pending_envelopes(rig: SyncRig) -> list[dict[str, Any]]:
    """Every pending outbox event as its envelope dict, in seq order (marked published, so the
    test delivers them itself)."""
    done = rig.run("-c", _CAPTURE)
    assert done.returncode == 0, done.stderr
    envelopes: list[dict[str, Any]] = json.loads(done.stdout.splitlines()[-1])
    return envelopes


def events_of(envelopes: list[dict[str, Any]], aggregate_id: str) -> dict[int, dict[str, Any]]:
    """One aggregate's envelopes by version."""
    return {e["version"]: e for e in envelopes if e["aggregate_id"] == aggregate_id}

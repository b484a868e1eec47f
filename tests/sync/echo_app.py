"""A minimal worker app on the real sync configuration, for round-trip tests of ``celery_app``.

Run as ``celery -A tests.sync.echo_app worker``; its one task writes what it received to a file
(the result backend is off on purpose, so a file is how the test sees the task ran).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from sync.celery_app import make_celery

app = make_celery("inventory")


@app.task(name="inventory.echo")
def echo(path: str, payload: dict[str, Any]) -> None:
    target = Path(path)
    partial = target.with_suffix(".partial")
    partial.write_text(json.dumps(payload), encoding="utf-8")
    os.replace(partial, target)

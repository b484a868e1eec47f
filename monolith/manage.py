#!/usr/bin/env python
"""Django's command-line entry point for the monolith (``python monolith/manage.py <command>``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    # Run as a script, Python puts this folder first on sys.path, where the package's own modules
    # would shadow top-level ones; the repository root is where ``monolith`` is importable from.
    script_dir = str(Path(__file__).resolve().parent)
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(script_dir)]
    sys.path.insert(0, str(REPO_ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monolith.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()

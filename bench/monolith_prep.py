"""Preparing a monolith for a benchmark: a fresh PostgreSQL database and ``manage.py`` commands."""

from __future__ import annotations

import subprocess
import sys

import psycopg

from bench.processes import REPO_ROOT

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"


def fresh_postgres(database: str) -> str:
    """Drop and create ``database``; its URL."""
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {database}")
    return f"{PG_SERVER}/{database}"


def manage(env: dict[str, str], *args: str) -> str:
    """Run ``monolith/manage.py args`` with ``env``; its stdout, or exit with its output."""
    argv = [sys.executable, "monolith/manage.py", *args]
    done = subprocess.run(argv, env=env, cwd=REPO_ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout.strip()

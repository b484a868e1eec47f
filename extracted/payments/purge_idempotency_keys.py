"""``python -m extracted.payments.purge_idempotency_keys [--hours H]``: delete the service's
idempotency records older than H hours (default 24), as the monolith's ``manage.py
purge_idempotency_keys`` does for its own; their keys may then be reused."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta

from extracted.chassis.web.unit_of_work import unit_of_work
from extracted.payments.config import PaymentsSettings
from extracted.payments.idempotency import RETENTION, idempotency_purge
from extracted.payments.wiring import sessions_for


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m extracted.payments.purge_idempotency_keys")
    parser.add_argument(
        "--hours",
        type=float,
        default=RETENTION.total_seconds() / 3600,
        help="age in hours above which records are deleted (default 24)",
    )
    args = parser.parse_args(argv)
    if not args.hours >= 0:
        print(f"purge failed: --hours must be 0 or more, got {args.hours}", file=sys.stderr)
        return 2
    try:
        with unit_of_work(sessions_for(PaymentsSettings().database_url)) as session:
            deleted = idempotency_purge(session, older_than=timedelta(hours=args.hours))
    except Exception as exc:  # one line for the operator, not a traceback
        message = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        print(f"purge failed: {type(exc).__name__}: {message}", file=sys.stderr)
        return 1
    print(f"idempotency records purged: {deleted}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

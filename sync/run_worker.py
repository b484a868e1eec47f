"""A Celery worker of one side: ``python -m sync.run_worker -A sync.inventory_worker -n
inventory@%h`` (the stack's ``worker-inventory``; the monolith's, payments' and orders' likewise).

It starts what ``celery -A <app> worker -n <node> --pool threads`` starts, the same way
(``app.Worker(...).start()``, as that command does), without the ``celery`` command line: it
imports every one of its subcommands before running one, the ``amqp`` shell's prompt_toolkit
among them, some 12 MiB in each worker. The options are the ``worker`` command's, and the pool
is always threads (``strangler.stack`` says why). The ``celery`` command still works on every
worker app (docker-compose runs it).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from celery import Celery
from celery.utils.nodenames import default_nodename, host_format


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sync.run_worker",
        description="Run a Celery worker (a thread pool) of one app, as `celery worker` does.",
    )
    parser.add_argument(
        "-A", "--app", required=True, help="module whose `app` is the Celery app to run"
    )
    parser.add_argument("-n", "--hostname", required=True, help="node name (%%h: this host's name)")
    parser.add_argument(
        "--concurrency", type=_positive, default=4, help="pool threads (default: 4)"
    )
    parser.add_argument("--loglevel", default="INFO", help="log level (default: INFO)")
    parser.add_argument(
        "--without-mingle",
        action="store_true",
        help="no state exchange with other workers at start",
    )
    parser.add_argument(
        "--without-gossip", action="store_true", help="no gossip with other workers"
    )
    args = parser.parse_args(argv)
    try:
        module = importlib.import_module(args.app)
    except ModuleNotFoundError as err:
        parser.error(f"cannot import {args.app}: {err}")
    app = getattr(module, "app", None)
    if not isinstance(app, Celery):
        parser.error(f"{args.app} has no Celery app named `app`")
    worker = app.Worker(
        hostname=host_format(default_nodename(args.hostname)),
        pool_cls="threads",
        concurrency=args.concurrency,
        loglevel=args.loglevel,
        without_mingle=args.without_mingle,
        without_gossip=args.without_gossip,
    )
    worker.start()
    sys.exit(worker.exitcode)


if __name__ == "__main__":
    main()

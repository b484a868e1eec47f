"""The outbox relay process: ``python -m sync.relay`` (the stack's ``relay``). It sets Django up
for the monolith's database, then relays until it is signalled (``sync.outbox_relay.run``)."""

from __future__ import annotations

import contextlib
import logging
import os
import signal

import django


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monolith.settings")
    django.setup()
    from sync.outbox_relay import run  # reads the monolith's models: after django.setup()

    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    with contextlib.suppress(KeyboardInterrupt):
        run()


if __name__ == "__main__":
    main()

"""`python -m proxy`: run the strangler façade (settings from the environment)."""

from __future__ import annotations

import asyncio
import logging
import sys

from pydantic import ValidationError

from proxy.config import ConfigError, load_route_table
from proxy.lint import require_clean
from proxy.reload import ensure_routes_file
from proxy.settings import ProxySettings


def _one_line(text: str) -> str:
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


def main() -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = ProxySettings()
    except ValidationError as err:
        print(f"proxy: invalid settings: {_one_line(str(err))}", file=sys.stderr)
        return 2
    routes = settings.routes_path
    try:
        if ensure_routes_file(routes, settings.routes_template):
            logging.getLogger("proxy").info(
                "proxy: copied %s to %s", settings.routes_template, routes
            )
    except OSError as err:
        print(
            f"proxy: cannot create {routes} from {settings.routes_template}: {err}", file=sys.stderr
        )
        return 2
    try:
        require_clean(load_route_table(routes), source=str(routes))
    except ConfigError as err:
        print(f"proxy: {_one_line(str(err))}", file=sys.stderr)
        return 2

    from proxy.app import serve  # after the checks: a bad file exits before anything starts

    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        asyncio.run(serve(settings))
    else:
        uvloop.run(serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())

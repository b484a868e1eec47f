"""A small real HTTP server answering the endpoints the plan's gates read, from a JSON file.

Run as ``python -m tests.plan.gate_server PORT FILE``. Every request re-reads FILE (the test
rewrites it atomically to change what the "components" report):

* ``GET /internal/outbox/stats`` -> ``file["outbox"]`` (the monolith's shape)
* ``GET /internal/sync/stats`` -> ``file["sync"]`` (the inventory service's shape)
* ``GET /admin/stats`` -> ``file["admin"]`` (the proxy's shape), Bearer ``file["token"]`` required
* ``GET /admin/mismatches?route=&since=&limit=`` -> ``{"count", "results"}`` computed from
  ``file["mismatches"]`` (each ``{"route", "at"}``), filtered like the proxy filters them
* ``GET /health`` -> 200
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit


def make_handler(state_file: Path) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _reply(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            state = json.loads(state_file.read_text())
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path == "/health":
                self._reply(200, {"status": "ok"})
            elif url.path == "/internal/outbox/stats":
                # The plan moves inventory: its gates must ask for that capability's backlog.
                if query.get("capability") != "inventory":
                    self._reply(400, {"error": "validation_error", "detail": "capability?"})
                else:
                    self._reply(200, state["outbox"])
            elif url.path == "/internal/sync/stats":
                self._reply(200, state["sync"])
            elif url.path.startswith("/admin/"):
                if self.headers.get("Authorization") != f"Bearer {state['token']}":
                    self._reply(401, {"error": "unauthorized", "detail": "Bad token."})
                elif url.path == "/admin/stats":
                    self._reply(200, state["admin"])
                elif url.path == "/admin/mismatches":
                    since = datetime.fromisoformat(query["since"]) if "since" in query else None
                    rows = [
                        row
                        for row in state["mismatches"]
                        if row["route"] == query.get("route", row["route"])
                        and (since is None or datetime.fromisoformat(row["at"]) >= since)
                    ]
                    limit = int(query.get("limit", "50"))
                    self._reply(200, {"count": len(rows), "results": rows[:limit]})
                else:
                    self._reply(404, {"error": "not_found", "detail": "Not found."})
            else:
                self._reply(404, {"error": "not_found", "detail": "Not found."})

    return Handler


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


if __name__ == "__main__":
    port, file = int(sys.argv[1]), Path(sys.argv[2])
    ThreadingHTTPServer(("127.0.0.1", port), make_handler(file)).serve_forever()

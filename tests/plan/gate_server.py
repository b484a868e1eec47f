"""A small real HTTP server answering the endpoints the plan's gates read, from a JSON file.

Run as ``python -m tests.plan.gate_server PORT FILE``. Every request re-reads FILE (the test
rewrites it atomically to change what the "components" report):

* ``GET /internal/outbox/stats`` -> ``file["outbox"]`` (the monolith's shape)
* ``GET /internal/sync/stats`` -> ``file["sync"]`` (the inventory service's shape)
* ``GET /admin/stats`` -> ``file["admin"]`` (the proxy's shape), Bearer ``file["token"]`` required
* ``GET /admin/mismatches?route=&since=&limit=`` -> ``{"count", "results"}`` computed from
  ``file["mismatches"]`` (each ``{"route", "at"}``), filtered like the proxy filters them
* ``GET /health`` -> 200

and, for the gates that read the owners of each capability, a service at ``/svc/CAPABILITY``
(its base URL; the monolith is the server's root):

* ``GET /internal/sync/direction/CAPABILITY`` (monolith) and ``GET /svc/CAPABILITY/internal/
  sync/direction`` -> ``file["directions"][CAPABILITY]["monolith" | "service"]``
* ``GET /svc/CAPABILITY/internal/sync/stats`` -> ``file["sync"]`` with that capability's
  ``file["reconciliations"][CAPABILITY]`` as ``reconciliations``
* ``POST [/svc/CAPABILITY]/internal/reconcile/AGGREGATE/rows`` ``{"lo", "hi", "limit"}`` ->
  ``{"rows"}`` from ``file["rows"]["monolith" | "service"][AGGREGATE]`` (each ``{"key",
  "version", "text"}``), keys ``lo <= key < hi`` in order, at most ``limit``; Bearer
  ``file["sync_token"]`` required, as the owners require the sync token
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

        def _side(self, path: str) -> tuple[str | None, str]:
            """(the service's capability, or None for the monolith; the path within)."""
            if path.startswith("/svc/"):
                capability, _, rest = path[len("/svc/") :].partition("/")
                return capability, "/" + rest
            return None, path

        def _owners(self, state: dict[str, Any], capability: str | None, path: str) -> None:
            """The direction and sync stats of the owners (404 when the file has none)."""
            if "directions" not in state:
                self._reply(404, {"error": "not_found", "detail": "Not found."})
            elif capability is None:
                capability = path.rsplit("/", 1)[-1]
                direction = state["directions"][capability]["monolith"]
                self._reply(200, _direction(capability, direction))
            elif path == "/internal/sync/direction":
                direction = state["directions"][capability]["service"]
                self._reply(200, _direction(capability, direction))
            elif path == "/internal/sync/stats":
                runs = state.get("reconciliations", {}).get(capability, {})
                self._reply(200, {**state["sync"], "reconciliations": runs})
            else:
                self._reply(404, {"error": "not_found", "detail": "Not found."})

        def do_POST(self) -> None:
            state = json.loads(state_file.read_text())
            capability, path = self._side(urlsplit(self.path).path)
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            parts = path.strip("/").split("/")
            if parts[:2] != ["internal", "reconcile"] or parts[3:] != ["rows"]:
                self._reply(404, {"error": "not_found", "detail": "Not found."})
            elif self.headers.get("Authorization") != f"Bearer {state.get('sync_token')}":
                self._reply(401, {"error": "unauthorized", "detail": "Bad token."})
            else:
                side = "monolith" if capability is None else "service"
                rows = sorted(state["rows"][side].get(parts[2], []), key=lambda r: r["key"])
                lo, hi = body.get("lo"), body.get("hi")
                rows = [
                    r
                    for r in rows
                    if (lo is None or r["key"] >= lo) and (hi is None or r["key"] < hi)
                ]
                self._reply(200, {"rows": rows[: body.get("limit", 5000)]})

        def do_GET(self) -> None:
            state = json.loads(state_file.read_text())
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            capability, path = self._side(url.path)
            if capability is not None or url.path.startswith("/internal/sync/direction/"):
                self._owners(state, capability, url.path if capability is None else path)
            elif url.path == "/health":
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


def _direction(capability: str, direction: str) -> dict[str, str]:
    return {"capability": capability, "direction": direction, "changed_at": now_iso()}


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


if __name__ == "__main__":
    port, file = int(sys.argv[1]), Path(sys.argv[2])
    ThreadingHTTPServer(("127.0.0.1", port), make_handler(file)).serve_forever()

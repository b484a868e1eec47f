"""The admin API (its own port): health, Prometheus metrics, and — with the bearer token — the
route table, flag changes, per-route stats, stored shadow mismatches, recorded requests, the
audit log and the stack's processes (as `strangler up` supervises them); the dashboard
(:mod:`proxy.dashboard`) over the same API; and the start page (``/``), linking every page of the
stack."""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from contracts.process_status import StatusUnavailable, read_status, status_json
from proxy.config import ConfigError, Route, RouteTable
from proxy.config_edit import EDITABLE_KEYS, read_audit, update_route
from proxy.dashboard import add_dashboard_routes, valid_session
from proxy.dashboard.session import DASHBOARD_HEADER
from proxy.dashboard.start_page import start_page_html
from proxy.diffstore import DiffStore, MismatchFilter
from proxy.lint import lint_table
from proxy.metrics import ProxyMetrics
from proxy.reload import RouteWatcher
from proxy.resilience import Breakers

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_LIMIT = 1000

_WATCHER = web.AppKey("watcher", RouteWatcher)
_METRICS = web.AppKey("metrics", ProxyMetrics)
_STORE = web.AppKey("store", DiffStore)
_TOKEN = web.AppKey("token", str)
_BREAKERS = web.AppKey("breakers", Breakers)
_PROCESSES = web.AppKey("processes", Path)


def _error(status: int, code: str, detail: str) -> web.Response:
    return web.json_response({"error": code, "detail": detail}, status=status)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def route_json(route: Route) -> dict[str, Any]:
    match = route.match.model_dump(mode="json", exclude_none=True)
    if not match.get("headers"):
        match.pop("headers", None)
    return {
        "name": route.name,
        "match": match,
        "mode": route.mode,
        "target": route.target,
        "percent": route.percent,
        "sticky": route.sticky,
        "fallback": route.fallback,
        "compare": route.compare.model_dump(mode="json"),
        "read_your_writes": (
            route.read_your_writes.model_dump(mode="json") if route.read_your_writes else None
        ),
    }


def table_json(table: RouteTable) -> dict[str, Any]:
    return {
        "upstreams": {
            name: upstream.model_dump(mode="json") for name, upstream in table.upstreams.items()
        },
        "routes": [route_json(route) for route in table.routes],
    }


@web.middleware
async def _auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """``/admin/`` needs the bearer token, or the dashboard's session cookie (with the
    dashboard's header on anything but a read: see :mod:`proxy.dashboard.session`)."""
    if request.path.startswith("/admin/"):
        given = request.headers.get("Authorization", "")
        scheme, _, token = given.partition(" ")
        expected = request.app[_TOKEN]
        bearer = scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), expected.encode()
        )
        if not bearer:
            if not valid_session(request.cookies, expected):
                resp = _error(401, "unauthorized", "A valid admin bearer token is required.")
                resp.headers["WWW-Authenticate"] = 'Bearer realm="strangler-proxy"'
                return resp
            if request.method not in ("GET", "HEAD") and not request.headers.get(DASHBOARD_HEADER):
                return _error(
                    403, "forbidden", f"A change from the dashboard carries {DASHBOARD_HEADER}."
                )
    return await handler(request)


@web.middleware
async def _json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return _error(404, "not_found", "Not found.")
    except web.HTTPMethodNotAllowed:
        return _error(405, "method_not_allowed", f'Method "{request.method}" not allowed.')


def _limit(request: web.Request, default: int) -> int:
    raw = request.query.get("limit")
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise ValueError(f"limit must be an integer from 1 to {MAX_LIMIT}")
    return int(raw)


def _moment(query: Mapping[str, str], name: str) -> datetime | None:
    raw = query.get(name)
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace(" ", "+"))
    except ValueError as err:
        raise ValueError(f"{name} must be an ISO 8601 date-time, got {raw!r}") from err
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def health(request: web.Request) -> web.Response:
    watcher = request.app[_WATCHER]
    return web.json_response(
        {"status": "ok", "digest": watcher.current.digest, "last_error": watcher.last_error}
    )


async def get_metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[_METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def get_routes(request: web.Request) -> web.Response:
    watcher = request.app[_WATCHER]
    snap = watcher.current
    return web.json_response(
        {
            "digest": snap.digest,
            "file": str(snap.file),
            "loaded_at": _iso(snap.loaded_at),
            "last_error": watcher.last_error,
            **table_json(snap.table),
        }
    )


async def patch_route(request: web.Request) -> web.Response:
    watcher = request.app[_WATCHER]
    name = request.match_info["name"]
    try:
        changes = json.loads(await request.read() or b"null")
    except (ValueError, UnicodeDecodeError):
        return _error(400, "malformed_request", "Body is not valid JSON.")
    if not isinstance(changes, dict) or not changes:
        return _error(
            400,
            "invalid_config",
            f"Send a JSON object with any of: {', '.join(EDITABLE_KEYS)}.",
        )
    actor = request.headers.get("X-Actor", "").strip() or "admin-api"
    try:
        await asyncio.to_thread(update_route, watcher.path, name, actor=actor[:200], **changes)
    except KeyError:
        return _error(404, "not_found", f"Route {name!r} not found.")
    except ConfigError as err:
        return _error(400, "invalid_config", str(err))
    watcher.check_now(force=True)
    snap = watcher.current
    try:
        route = snap.table.route(name)
    except KeyError:  # renamed by a concurrent hand edit
        return _error(404, "not_found", f"Route {name!r} not found.")
    warnings = [f.message for f in lint_table(snap.table) if f.route == name]
    return web.json_response(
        {"route": route_json(route), "digest": snap.digest, "warnings": warnings}
    )


async def get_stats(request: web.Request) -> web.Response:
    names = [r.name for r in request.app[_WATCHER].current.table.routes]
    summary = request.app[_METRICS].summary(names)
    summary["upstreams"] = {
        name: {"breaker": state} for name, state in request.app[_BREAKERS].states().items()
    }
    return web.json_response(summary)


def mismatch_filter(query: Mapping[str, str]) -> tuple[MismatchFilter, int | None]:
    """The filter and cursor of ``GET /admin/mismatches``; ValueError says what is wrong."""
    expected_status = actual_status = None
    status = query.get("status")
    if status:
        expected_text, _, actual_text = status.partition(":")
        try:
            expected_status = _status(expected_text)
            actual_status = _status(actual_text)
        except ValueError:
            raise ValueError(
                f"status is EXPECTED:ACTUAL (e.g. 200:500, 200:* or *:404), got {status!r}"
            ) from None
    before = query.get("cursor")
    if before is not None and not before.isdigit():
        raise ValueError(f"cursor must be the next_cursor of a previous page, got {before!r}")
    where = MismatchFilter(
        route=query.get("route") or None,
        since=_moment(query, "since"),
        until=_moment(query, "until"),
        expected_status=expected_status,
        actual_status=actual_status,
        path_contains=query.get("path") or None,
    )
    return where, int(before) if before is not None else None


def _status(text: str) -> int | None:
    if text in ("", "*"):
        return None
    if not text.isdigit() or not 0 <= int(text) <= 599:
        raise ValueError(text)
    return int(text)


async def get_mismatches(request: web.Request) -> web.Response:
    try:
        limit = _limit(request, 50)
        where, before = mismatch_filter(request.query)
    except ValueError as err:
        return _error(400, "validation_error", str(err))
    store = request.app[_STORE]
    page = await store.run(store.list, where, limit=limit, before=before)
    return web.json_response(
        {"count": page.total, "next_cursor": page.next_cursor, "results": page.results}
    )


async def get_recordings(request: web.Request) -> web.Response:
    """``GET /admin/recordings?route=NAME&limit=N``: the newest recorded requests of a route
    (redacted; proxy/recording.py), oldest first, and how many are kept."""
    route = request.query.get("route", "")
    if not route:
        return _error(400, "validation_error", "route is required")
    try:
        limit = _limit(request, 100)
    except ValueError as err:
        return _error(400, "validation_error", str(err))
    store = request.app[_STORE]
    count, results = await store.run(store.recordings, route, limit=limit)
    return web.json_response({"route": route, "count": count, "results": results})


async def get_audit(request: web.Request) -> web.Response:
    try:
        limit = _limit(request, 100)
    except ValueError as err:
        return _error(400, "validation_error", str(err))
    watcher = request.app[_WATCHER]
    records = await asyncio.to_thread(read_audit, watcher.path, limit=limit)
    return web.json_response({"results": records})


async def get_processes(request: web.Request) -> web.Response:
    """``GET /admin/processes``: each process of the stack `strangler up` supervises (state, pid,
    restarts, last exit, uptime); 404 ``not_supervised`` when no supervisor writes the status file
    in this var folder (under Docker Compose, Compose itself restarts the containers)."""
    try:
        status = await asyncio.to_thread(read_status, request.app[_PROCESSES])
    except StatusUnavailable as err:
        return _error(404, "not_supervised", str(err))
    return web.json_response(status_json(status, datetime.now(UTC)))


def admin_app(
    *,
    token: str,
    watcher: RouteWatcher,
    metrics: ProxyMetrics,
    store: DiffStore,
    breakers: Breakers,
    processes_file: Path,
) -> web.Application:
    app = web.Application(middlewares=[_json_errors, _auth], client_max_size=64 * 1024)
    app[_WATCHER] = watcher
    app[_METRICS] = metrics
    app[_STORE] = store
    app[_TOKEN] = token
    app[_BREAKERS] = breakers
    app[_PROCESSES] = processes_file
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", get_metrics)
    app.router.add_get("/admin/routes", get_routes)
    app.router.add_patch("/admin/routes/{name}", patch_route)
    app.router.add_get("/admin/stats", get_stats)
    app.router.add_get("/admin/mismatches", get_mismatches)
    app.router.add_get("/admin/recordings", get_recordings)
    app.router.add_get("/admin/audit", get_audit)
    app.router.add_get("/admin/processes", get_processes)
    add_dashboard_routes(
        app, token=token, start_page=lambda: start_page_html(watcher.current.table)
    )
    return app

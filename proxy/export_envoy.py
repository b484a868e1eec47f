"""The route table rendered as an Envoy v3 static bootstrap (YAML).

Same table, same bytes: everything is emitted in the table's own order or sorted. What maps to
what (docs/engines.md has the prose):

* each upstream -> a cluster (its timeout as the connect timeout and the route timeout); its
  ``retry`` -> the route's retry policy on connect-failure/502/503/504, only for idempotent
  methods (``retriable_request_headers`` on ``:method``: never POST or PATCH);
* each route -> Envoy routes in our router's precedence (exact, patterns in file order,
  longest prefix; header-conditioned first; then file order): Envoy takes the first route
  that matches, which is our router's rule; methods are ``:method`` header matchers;
* a canary -> a Lua filter computes the bucket of :mod:`proxy.sticky` (MurmurHash2 of
  ``<route>:<key>``, nginx's ``split_clients`` arithmetic) into ``x-strangler-bucket-<route>``;
  the route is then two: ``range_match [0, percent*100)`` to the target, else the monolith;
* a read's fallback -> an aggregate cluster ``[target, fallback]`` for the route's GET/HEAD
  part, whose one retry goes to the next priority (``previous_priorities``): the fallback.

What Envoy configuration cannot do for a given table is listed by :func:`envoy_findings`.
"""

from __future__ import annotations

import io
import re
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import LiteralScalarString

from proxy.config import ANY_VALUE, IDEMPOTENT_METHODS, PLACEHOLDER, Route, RouteTable
from proxy.headers import CLIENT_ADDRESS_HEADERS
from proxy.proxy_only import proxy_only_findings
from proxy.retrying import READ_METHODS
from proxy.sticky import SEPARATOR

_TYPE = "type.googleapis.com/envoy."
#: Client-address headers of other conventions and ours a client may not send (wire.py);
#: Envoy drops hop-by-hop headers itself and sets X-Forwarded-Proto from the connection.
_REMOVED_HEADERS = (
    "proxy-authorization",
    "trailer",
    "x-strangler-dry-run",
    "x-strangler-upstream",
    "x-strangler-route",
    *(name.lower() for name in CLIENT_ADDRESS_HEADERS),
    "forwarded",
)
_ROUTE_ORDER = {"path": 0, "path_pattern": 1, "path_prefix": 2}
#: Regex text that may match a '/' or that RE2 (Envoy's regex engine) does not have.
_UNSAFE_SEGMENT_REGEX = re.compile(r"\.|\[\^|\\[SWDsn]|/|\(\?[=!<]|\\[1-9]")

#: nginx's ngx_murmur_hash2 and split_clients bucket in Lua for LuaJIT (Envoy's Lua): numbers
#: are doubles, so a 32-bit product is built from 16-bit halves and XOR comes from ``bit``.
LUA_BUCKET = """\
local bit = require("bit")
local TWO32 = 4294967296
local M = 0x5bd1e995

local function mul32(a, b)
  local lo = a % 65536
  local hi = (a - lo) / 65536
  return (lo * b + ((hi * b) % 65536) * 65536) % TWO32
end

local function xor32(a, b)
  return bit.bxor(a, b) % TWO32
end

local function murmur2(s)
  local len = #s
  local h = len % TWO32
  local i = 1
  while i + 3 <= len do
    local b1, b2, b3, b4 = string.byte(s, i, i + 3)
    local k = mul32(b1 + b2 * 256 + b3 * 65536 + b4 * 16777216, M)
    k = mul32(xor32(k, math.floor(k / 16777216)), M)
    h = xor32(mul32(h, M), k)
    i = i + 4
  end
  local rest = len - i + 1
  if rest == 3 then h = xor32(h, string.byte(s, i + 2) * 65536) end
  if rest >= 2 then h = xor32(h, string.byte(s, i + 1) * 256) end
  if rest >= 1 then h = mul32(xor32(h, string.byte(s, i)), M) end
  h = mul32(xor32(h, math.floor(h / 8192)), M)
  return xor32(h, math.floor(h / 32768))
end

-- The smallest b with hash < (b + 1) * 0xffffffff // 10000, as proxy/sticky.py bucket_of_hash.
local function bucket(s)
  local n = (murmur2(s) + 1) * 10000
  local q = (n - n % 4294967295) / 4294967295
  if n % 4294967295 ~= 0 then q = q + 1 end
  if q > 10000 then q = 10000 end
  return q - 1
end

local function trim(s)
  return string.match(s, "^%s*(.-)%s*$")
end

-- One cookie's value, as proxy/sticky.py cookie_value (quotes stripped; empty is missing).
local function cookie_value(header, name)
  if header == nil then return nil end
  for part in string.gmatch(header, "[^;]+") do
    local p = trim(part)
    local eq = string.find(p, "=", 1, true)
    if eq and string.sub(p, 1, eq - 1) == name then
      local v = string.match(trim(string.sub(p, eq + 1)), '^"*(.-)"*$')
      if v == "" then return nil end
      return v
    end
  end
  return nil
end
"""

_LUA_ON_REQUEST = """\

-- The client address without its port ("[::1]:5678" -> "::1").
local function client_address(handle)
  local addr = handle:streamInfo():downstreamRemoteAddress()
  return string.match(addr, "^%[(.*)%]:%d+$") or string.match(addr, "^(.*):%d+$") or addr
end

function envoy_on_request(handle)
  local headers = handle:headers()
  local addr = nil
  for _, c in ipairs(CANARIES) do
    local key = nil
    if c.kind == "header" then
      key = headers:get(c.arg)
    elseif c.kind == "cookie" then
      key = cookie_value(headers:get("cookie"), c.arg)
    end
    if key == nil or key == "" then
      addr = addr or client_address(handle)
      key = addr
    end
    headers:replace(c.header, string.format("%d", bucket(c.route .. SEPARATOR .. key)))
  end
end
"""


def _lua_string(text: str) -> str:
    """A Lua string literal for ``text``'s latin-1 (else UTF-8) bytes, as sticky.hashed_text."""
    try:
        data = text.encode("latin-1")
    except UnicodeEncodeError:
        data = text.encode("utf-8")
    return (
        '"'
        + "".join(chr(b) if 32 <= b < 127 and b not in (34, 92) else f"\\{b}" for b in data)
        + '"'
    )


def bucket_header(route: Route) -> str:
    """The request header the Lua filter sets to the route's bucket."""
    return "x-strangler-bucket-" + re.sub(r"[^a-z0-9-]", "-", route.name.lower())


def _seconds(value: float) -> str:
    """A protobuf JSON Duration, as protobuf prints it (``2s``, ``2.500s``)."""
    millis = round(value * 1000)
    whole, rest = divmod(millis, 1000)
    return f"{whole}s" if not rest else f"{whole}.{rest:03d}s"


def _cluster_name(upstream: str) -> str:
    return f"strangler_{upstream}"


def _fallback_cluster_name(target: str, fallback: str) -> str:
    return f"strangler_{target}_or_{fallback}"


def _canary_routes(table: RouteTable) -> list[Route]:
    return [r for r in table.routes if r.mode == "canary" and r.target and 0 < r.percent < 100]


def _sticky_source(sticky: str) -> tuple[str, str]:
    """(kind, argument) the Lua filter reads the key from; anything else: the address."""
    kind, _, arg = sticky.partition(":")
    if kind == "header":
        return "header", arg.lower()
    if kind == "cookie":
        return "cookie", arg
    return "client", ""


def _lua_code(table: RouteTable) -> str:
    lines = [LUA_BUCKET, f"local SEPARATOR = {_lua_string(SEPARATOR)}", "local CANARIES = {"]
    for route in _canary_routes(table):
        kind, arg = _sticky_source(route.sticky)
        lines.append(
            f"  {{route = {_lua_string(route.name)}, header = {_lua_string(bucket_header(route))}, "
            f"kind = {_lua_string(kind)}, arg = {_lua_string(arg)}}},"
        )
    lines.append("}")
    return "\n".join(lines) + "\n" + _LUA_ON_REQUEST


def segment_regex(pattern: str) -> str:
    """A ``path_pattern`` as an RE2 regex for Envoy's ``safe_regex`` (matches the whole path):
    a placeholder is one non-empty segment, a regex placeholder the regex itself (RE2 has no
    lookahead; :func:`envoy_findings` reports a regex that might span a ``/``)."""
    parts = []
    end = 0
    for found in PLACEHOLDER.finditer(pattern):
        parts.append(re.escape(pattern[end : found.start()]))
        regex = found.group(2)
        parts.append(f"(?:{regex})" if regex is not None else "[^/]+")
        end = found.end()
    parts.append(re.escape(pattern[end:]))
    return "".join(parts)


def _path_match(route: Route) -> dict[str, Any]:
    kind, rule = route.match.kind, route.match.rule
    if kind == "path":
        return {"path": rule}
    if kind == "path_pattern":
        return {"safe_regex": {"regex": segment_regex(rule)}}
    return {"prefix": rule}


def _methods_matcher(methods: list[str]) -> dict[str, Any]:
    if len(methods) == 1:
        return {"name": ":method", "string_match": {"exact": methods[0]}}
    return {"name": ":method", "string_match": {"safe_regex": {"regex": "|".join(methods)}}}


def _match(route: Route, methods: list[str], bucket_end: int | None) -> dict[str, Any]:
    match = _path_match(route)
    headers: list[dict[str, Any]] = []
    if methods:
        headers.append(_methods_matcher(methods))
    for name, wanted in route.match.headers.items():
        if wanted == ANY_VALUE:
            headers.append({"name": name.lower(), "present_match": True})
        else:
            headers.append({"name": name.lower(), "string_match": {"exact": wanted}})
    if bucket_end is not None:
        headers.append(
            {"name": bucket_header(route), "range_match": {"start": 0, "end": bucket_end}}
        )
    if headers:
        match["headers"] = headers
    return match


def _retry_policy(table: RouteTable, upstream: str) -> dict[str, Any] | None:
    attempts = table.upstreams[upstream].retry.attempts
    if not attempts:
        return None
    return {
        "retry_on": "connect-failure,retriable-status-codes",
        "retriable_status_codes": [502, 503, 504],
        "num_retries": attempts,
        # Never POST or PATCH: only an idempotent request is retried.
        "retriable_request_headers": [_methods_matcher(sorted(IDEMPOTENT_METHODS))],
    }


def _action(table: RouteTable, upstream: str) -> dict[str, Any]:
    action: dict[str, Any] = {
        "cluster": _cluster_name(upstream),
        "timeout": _seconds(table.upstreams[upstream].timeout_s),
    }
    policy = _retry_policy(table, upstream)
    if policy is not None:
        action["retry_policy"] = policy
    return action


def _fallback_action(table: RouteTable, target: str, fallback: str) -> dict[str, Any]:
    """A read: the target, and on a dead target or any 5xx one retry on the fallback."""
    first, second = table.upstreams[target].timeout_s, table.upstreams[fallback].timeout_s
    return {
        "cluster": _fallback_cluster_name(target, fallback),
        "timeout": _seconds(first + second),
        "retry_policy": {
            "retry_on": "connect-failure,reset,5xx",
            "num_retries": 1,
            "per_try_timeout": _seconds(max(first, second)),
            "retry_priority": {
                "name": "envoy.retry_priorities.previous_priorities",
                "typed_config": {
                    "@type": _TYPE
                    + "extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig",
                    "update_frequency": 1,
                },
            },
        },
    }


def _labels(route: Route, upstream: str) -> list[dict[str, Any]]:
    return [
        {
            "header": {"key": key, "value": value},
            "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
        }
        for key, value in (("x-strangler-upstream", upstream), ("x-strangler-route", route.name))
    ]


def _side_routes(
    table: RouteTable, route: Route, upstream: str, bucket_end: int | None, suffix: str
) -> list[dict[str, Any]]:
    """The Envoy routes sending ``route``'s requests to ``upstream`` (reads apart when the
    upstream is the target and the route falls back)."""
    methods = list(route.match.methods)
    out: list[dict[str, Any]] = []
    fallback = route.fallback
    if fallback and upstream == route.target and fallback != upstream:
        reads = [m for m in methods if m in READ_METHODS] if methods else sorted(READ_METHODS)
        if reads:
            out.append(
                {
                    "name": f"{route.name}{suffix}:read",
                    "match": _match(route, reads, bucket_end),
                    "route": _fallback_action(table, upstream, fallback),
                    "response_headers_to_add": _labels(route, upstream),
                }
            )
        methods = [m for m in methods if m not in READ_METHODS]
        if route.match.methods and not methods:
            return out
    out.append(
        {
            "name": f"{route.name}{suffix}",
            "match": _match(route, methods, bucket_end),
            "route": _action(table, upstream),
            "response_headers_to_add": _labels(route, upstream),
        }
    )
    return out


def _envoy_routes(table: RouteTable, route: Route) -> list[dict[str, Any]]:
    target = route.target
    if route.mode == "canary" and target and 0 < route.percent < 100:
        end = round(route.percent * 100)
        return _side_routes(table, route, target, end, ":canary") + _side_routes(
            table, route, "monolith", None, ""
        )
    if target and (route.mode == "extracted" or (route.mode == "canary" and route.percent >= 100)):
        return _side_routes(table, route, target, None, "")
    return _side_routes(table, route, "monolith", None, "")


def _ordered(table: RouteTable) -> list[Route]:
    """Our router's precedence (proxy/routing.py) as one list: Envoy takes the first match."""
    indexed = list(enumerate(table.routes))

    def key(ir: tuple[int, Route]) -> tuple[int, int, bool, int]:
        index, route = ir
        length = -len(route.match.rule) if route.match.kind == "path_prefix" else 0
        return (_ROUTE_ORDER[route.match.kind], length, not route.match.headers, index)

    return [r for _, r in sorted(indexed, key=key)]


def _not_found(name: str, match: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "match": match,
        "direct_response": {
            "status": 404,
            "body": {"inline_string": '{"code": "not_found", "detail": "Not found."}'},
        },
        "response_headers_to_add": [
            {
                "header": {"key": "content-type", "value": "application/json"},
                "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
            }
        ],
    }


def _route_config(table: RouteTable) -> dict[str, Any]:
    routes = [
        # Paths under /internal/ are never forwarded, whatever the routes say.
        _not_found("internal", {"prefix": "/internal/"}),
        _not_found("internal-root", {"path": "/internal"}),
    ]
    for route in _ordered(table):
        routes += _envoy_routes(table, route)
    routes.append(_not_found("not-found", {"prefix": "/"}))
    removed = list(_REMOVED_HEADERS) + [bucket_header(r) for r in _canary_routes(table)]
    return {
        "name": "strangler",
        "virtual_hosts": [{"name": "strangler", "domains": ["*"], "routes": routes}],
        # Forwarding headers from this connection only, never the client's own.
        "request_headers_to_add": [
            {
                "header": {"key": key, "value": value},
                "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
            }
            for key, value in (
                ("x-forwarded-for", "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%"),
                ("x-real-ip", "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%"),
                ("x-forwarded-host", "%REQ(:authority)%"),
            )
        ],
        "request_headers_to_remove": removed,
    }


def _address(host: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": host, "port_value": port}}


def _listen_address(listen: str) -> dict[str, Any]:
    host, sep, port = listen.rpartition(":")
    if not sep:
        host = "0.0.0.0"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--listen {listen!r}: expected HOST:PORT or PORT")
    return _address(host.strip("[]") or "0.0.0.0", int(port))


def _clusters(table: RouteTable) -> list[dict[str, Any]]:
    clusters: list[dict[str, Any]] = []
    for name, upstream in table.upstreams.items():
        scheme, _, authority = upstream.url.partition("://")
        host, sep, port = authority.rpartition(":")
        if not sep or not port.isdigit():
            host, port = authority, "443" if scheme == "https" else "80"
        cluster: dict[str, Any] = {
            "name": _cluster_name(name),
            "type": "STRICT_DNS",
            "connect_timeout": _seconds(upstream.timeout_s),
            "load_assignment": {
                "cluster_name": _cluster_name(name),
                "endpoints": [
                    {"lb_endpoints": [{"endpoint": {"address": _address(host, int(port))}}]}
                ],
            },
        }
        if scheme == "https":
            cluster["transport_socket"] = {
                "name": "envoy.transport_sockets.tls",
                "typed_config": {
                    "@type": _TYPE + "extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                    "sni": host,
                },
            }
        clusters.append(cluster)
    pairs = sorted(
        {
            (r.target, r.fallback)
            for r in table.routes
            if r.target
            and r.fallback
            and r.fallback != r.target
            and (r.mode == "extracted" or (r.mode == "canary" and r.percent > 0))
        }
    )
    for target, fallback in pairs:
        clusters.append(
            {
                "name": _fallback_cluster_name(target, fallback),
                "connect_timeout": _seconds(table.upstreams[target].timeout_s),
                "lb_policy": "CLUSTER_PROVIDED",
                "cluster_type": {
                    "name": "envoy.clusters.aggregate",
                    "typed_config": {
                        "@type": _TYPE + "extensions.clusters.aggregate.v3.ClusterConfig",
                        "clusters": [_cluster_name(target), _cluster_name(fallback)],
                    },
                },
            }
        )
    return clusters


def envoy_bootstrap(table: RouteTable, *, listen: str) -> dict[str, Any]:
    """The bootstrap as plain data (snake_case field names, ``@type`` for typed configs)."""
    filters: list[dict[str, Any]] = []
    if _canary_routes(table):
        filters.append(
            {
                "name": "envoy.filters.http.lua",
                "typed_config": {
                    "@type": _TYPE + "extensions.filters.http.lua.v3.Lua",
                    "default_source_code": {"inline_string": _lua_code(table)},
                },
            }
        )
    filters.append(
        {
            "name": "envoy.filters.http.router",
            "typed_config": {
                "@type": _TYPE + "extensions.filters.http.router.v3.Router",
                "suppress_envoy_headers": True,
            },
        }
    )
    manager = {
        "@type": _TYPE
        + "extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "strangler",
        # The peer is the client: X-Forwarded-For is never taken from the request.
        "use_remote_address": True,
        "xff_num_trusted_hops": 0,
        "preserve_external_request_id": True,
        "always_set_request_id_in_response": True,
        "normalize_path": True,
        "merge_slashes": True,
        "path_with_escaped_slashes_action": "REJECT_REQUEST",
        "http_filters": filters,
        "route_config": _route_config(table),
    }
    return {
        "static_resources": {
            "listeners": [
                {
                    "name": "strangler",
                    "address": _listen_address(listen),
                    "filter_chains": [
                        {
                            "filters": [
                                {
                                    "name": "envoy.filters.network.http_connection_manager",
                                    "typed_config": manager,
                                }
                            ]
                        }
                    ],
                }
            ],
            "clusters": _clusters(table),
        }
    }


def _literal_blocks(value: Any) -> Any:
    """Multi-line strings (the Lua code) as YAML literal blocks, readable in the file."""
    if isinstance(value, dict):
        return {k: _literal_blocks(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_literal_blocks(v) for v in value]
    if isinstance(value, str) and "\n" in value:
        return LiteralScalarString(value)
    return value


def render_envoy(table: RouteTable, *, listen: str) -> str:
    """The Envoy bootstrap for ``table``. ValueError when ``listen`` is not HOST:PORT or PORT."""
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 4096
    buffer = io.StringIO()
    yaml.dump(_literal_blocks(envoy_bootstrap(table, listen=listen)), buffer)
    head = (
        "# Rendered by `strangler routes export envoy`: an Envoy v3 bootstrap. Re-export, do not\n"
        "# edit (docs/engines.md says what maps to what). Route table sha256:\n"
        f"# {table.digest or '(not from a file)'}\n"
    )
    return head + buffer.getvalue()


def envoy_findings(table: RouteTable) -> list[str]:
    """What this table asks that the rendered Envoy configuration does not do, one a line."""
    findings: list[str] = []
    headers_seen: dict[str, str] = {}
    for route in table.routes:
        name = route.name
        if route.mode == "canary" and 0 < route.percent < 100:
            if route.sticky == "jwt:sub":
                findings.append(
                    f"route {name}: sticky jwt:sub needs the JWT decoded; the Lua filter does "
                    "not (rendered keyed on the client address)"
                )
            header = bucket_header(route)
            if header in headers_seen:
                findings.append(
                    f"route {name}: its bucket header {header} is also route "
                    f"{headers_seen[header]}'s (rename one)"
                )
            headers_seen[header] = name
        findings += proxy_only_findings(route, "Envoy config")
        if route.match.kind == "path_pattern":
            for found in PLACEHOLDER.finditer(route.match.rule):
                regex = found.group(2)
                if regex is not None and _UNSAFE_SEGMENT_REGEX.search(regex):
                    findings.append(
                        f"route {name}: placeholder regex {regex!r} may span a '/' or is not "
                        "RE2 (Envoy has no lookahead to hold it to one segment)"
                    )
    return findings

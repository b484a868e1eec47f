"""The route table rendered as nginx configuration (an ``http``-level file to ``include``).

Same table, same bytes: everything is emitted in the table's own order or sorted. What maps to
what (docs/engines.md has the prose):

* each upstream -> an ``upstream`` block (keepalive), its entry listed ``retry.attempts + 1``
  times so that ``proxy_next_upstream`` retries the same address as our proxy does;
* each path rule -> a ``location`` (``=`` exact, ``~`` regex for a path_pattern, plain prefix;
  nginx's own precedence - exact, then regexes in file order, then the longest prefix - is the
  route table's), whose ``map`` picks the route from the method and header conditions, falling
  through to the routes a shorter prefix names, then jumps (``error_page 418``) to one named
  location per (route, upstream) with that upstream's timeouts and the hygiene headers;
* a canary -> ``split_clients`` on ``"<route>:<key>"``, the same MurmurHash2 and thresholds as
  :mod:`proxy.sticky`; the key comes from a ``map`` that falls back to ``$remote_addr``;
* a read's fallback -> ``proxy_intercept_errors`` + ``error_page 5xx`` to the fallback.

What nginx cannot do for a given table is listed by :func:`nginx_findings`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from proxy.config import ANY_VALUE, PLACEHOLDER, PathPattern, Route, RouteTable, Upstream
from proxy.headers import CLIENT_ADDRESS_HEADERS
from proxy.proxy_only import proxy_only_findings
from proxy.retrying import READ_METHODS
from proxy.sticky import SEPARATOR

#: Client-address headers of other conventions, removed as our proxy removes them (wire.py).
_CLIENT_ADDRESS_HEADERS = (*CLIENT_ADDRESS_HEADERS, "Forwarded")
#: Hop-by-hop request headers (RFC 9110 §7.6.1) and ours a client may not send.
_DROPPED_HEADERS = (
    "Connection",
    "Keep-Alive",
    "Proxy-Connection",
    "Proxy-Authorization",
    "TE",
    "Trailer",
    "Upgrade",
    "X-Strangler-Dry-Run",
    "X-Strangler-Upstream",
    "X-Strangler-Route",
)
_FALLBACK_STATUSES = "500 501 502 503 504 505 506 507 508 510 511"
_COOKIE_VARIABLE = re.compile(r"^[A-Za-z0-9_]+$")


def _ident(name: str) -> str:
    """A name as part of an nginx variable or location name (letters, digits, ``_``)."""
    return re.sub(r"[^A-Za-z0-9]", "_", name).lower()


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _literal_regex(text: str) -> str:
    """PCRE for ``text`` literally: every character that is not a letter or digit escaped."""
    return "".join(c if c.isalnum() else "\\" + c for c in text)


def _seconds(value: float) -> str:
    millis = round(value * 1000)
    return f"{millis // 1000}s" if millis % 1000 == 0 else f"{millis}ms"


def _key_variable(sticky: str) -> str | None:
    """The nginx variable holding a sticky key's value (None: nginx cannot read it)."""
    kind, _, arg = sticky.partition(":")
    if kind == "header":
        return f"$http_{_ident(arg)}"
    if kind == "cookie" and _COOKIE_VARIABLE.match(arg):
        return f"$cookie_{arg}"
    if sticky == "client:addr":
        return "$remote_addr"
    return None


def _key_map_name(sticky: str) -> str:
    return f"$strangler_key_{_ident(sticky)}"


def path_regex(pattern: str) -> str:
    """A ``path_pattern`` as an anchored PCRE: a placeholder is one non-empty segment, and a
    regex placeholder must match that whole segment (a lookahead to the segment's end)."""
    parts = ["^"]
    end = 0
    for found in PLACEHOLDER.finditer(pattern):
        parts.append(_literal_regex(pattern[end : found.start()]))
        regex = found.group(2)
        if regex is not None:
            parts.append(f"(?=(?:{regex})(?:/|$))")
        parts.append("[^/]+")
        end = found.end()
    parts.append(_literal_regex(pattern[end:]) + "$")
    return "".join(parts)


@dataclass(frozen=True)
class _Location:
    """One nginx location: the path rule it stands for and the routes it may dispatch to."""

    kind: str
    rule: str
    #: Routes in the order our router tries them for a path this location takes.
    candidates: tuple[Route, ...]


def _locations(table: RouteTable) -> list[_Location]:
    """One location per distinct path rule, in a stable order: exact, patterns, prefixes."""
    prefix_routes = sorted(
        (ir for ir in enumerate(table.routes) if ir[1].match.kind == "path_prefix"),
        key=lambda ir: (-len(ir[1].match.rule), not ir[1].match.headers, ir[0]),
    )
    pattern_routes = sorted(
        (ir for ir in enumerate(table.routes) if ir[1].match.kind == "path_pattern"),
        key=lambda ir: (not ir[1].match.headers, ir[0]),
    )

    def covering_prefixes(path: str) -> list[Route]:
        return [r for _, r in prefix_routes if path.startswith(r.match.rule)]

    out: list[_Location] = []
    seen: set[tuple[str, str]] = set()
    for route in table.routes:
        kind, rule = route.match.kind, route.match.rule
        if (kind, rule) in seen:
            continue
        seen.add((kind, rule))
        if kind == "path":
            own = sorted(
                (ir for ir in enumerate(table.routes) if ir[1].match.kind == "path"),
                key=lambda ir: (not ir[1].match.headers, ir[0]),
            )
            fitting = [r for _, r in pattern_routes if PathPattern(r.match.rule).matches(rule)]
            candidates = [r for _, r in own if r.match.rule == rule] + fitting
            candidates += covering_prefixes(rule)
        elif kind == "path_pattern":
            candidates = [r for _, r in pattern_routes if r.match.rule == rule]
            literal = rule[: m.start()] if (m := PLACEHOLDER.search(rule)) else rule
            # Later patterns and longer prefixes may or may not take a path this one takes:
            # only prefixes every such path starts with are certain (nginx_findings says so).
            candidates += covering_prefixes(literal)
        else:
            candidates = covering_prefixes(rule)
        out.append(_Location(kind, rule, tuple(candidates)))
    order = {"path": 0, "path_pattern": 1, "path_prefix": 2}
    return sorted(out, key=lambda loc: (order[loc.kind], loc.kind != "path_pattern" and loc.rule))


def _named(route: Route, upstream: str, *, read: bool = False) -> str:
    return f"@strangler_{_ident(route.name)}__{_ident(upstream)}{'__read' if read else ''}"


def _target_choice(route: Route, upstream: str) -> str:
    """The named location for ``upstream`` on this route: reads get the fallback variant."""
    if route.fallback and upstream != route.fallback and upstream == route.target:
        return f"$strangler_via_{_ident(route.name)}_{_ident(upstream)}"
    return _named(route, upstream)


def _route_variable(route: Route) -> str:
    """What a request this route takes resolves to: a named location, or a variable naming one."""
    if route.mode == "canary" and route.target and 0 < route.percent < 100:
        return f"$strangler_to_{_ident(route.name)}"
    if route.mode == "extracted" or (route.mode == "canary" and route.percent >= 100):
        assert route.target is not None
        return _target_choice(route, route.target)
    return _named(route, "monolith")


def render_nginx(table: RouteTable, *, listen: str) -> str:
    """The nginx configuration for ``table`` (include it inside ``http { }``)."""
    lines: list[str] = [
        "# Rendered by `strangler routes export nginx`; include it inside http { }. Re-export,",
        "# do not edit (docs/engines.md says what maps to what). Route table sha256:",
        f"# {table.digest or '(not from a file)'}",
        "",
    ]
    lines += _render_upstreams(table)
    lines += _render_keys(table)
    lines += _render_canaries(table)
    lines += _render_request_id()
    lines += _render_dispatch_maps(table)
    lines += _render_server(table, listen)
    return "\n".join(lines) + "\n"


def _render_upstreams(table: RouteTable) -> list[str]:
    lines: list[str] = []
    for name, upstream in table.upstreams.items():
        address = upstream.url.split("://", 1)[1]
        lines.append(f"upstream strangler_{_ident(name)} {{")
        # Listed once per try: nginx retries the "next" server, here the same address again.
        for _ in range(upstream.retry.attempts + 1):
            lines.append(f"    server {address} max_fails=0;")
        lines += ["    keepalive 32;", "}", ""]
    return lines


def _canary_routes(table: RouteTable) -> list[Route]:
    return [r for r in table.routes if r.mode == "canary" and r.target and 0 < r.percent < 100]


def _render_keys(table: RouteTable) -> list[str]:
    lines: list[str] = []
    for sticky in sorted({r.sticky for r in _canary_routes(table)}):
        source = _key_variable(sticky)
        if source is None or source == "$remote_addr":
            continue
        lines += [
            f"# sticky {sticky}; a request without it falls back to the client address",
            f"map {source} {_key_map_name(sticky)} {{",
            '    "" $remote_addr;',
            f"    default {source};",
            "}",
            "",
        ]
    return lines


def _key_expression(sticky: str) -> str:
    source = _key_variable(sticky)
    if source is None:
        return "$remote_addr"  # unexpressible (nginx_findings): every key is the address
    return "$remote_addr" if source == "$remote_addr" else _key_map_name(sticky)


def _render_canaries(table: RouteTable) -> list[str]:
    lines: list[str] = []
    for route in _canary_routes(table):
        assert route.target is not None
        ident = _ident(route.name)
        hashed = f"{route.name}{SEPARATOR}{_key_expression(route.sticky)}"
        lines += [
            f"# canary {route.name}: {route.percent:g}% of {route.sticky} keys to {route.target}",
            f"split_clients {_quote(hashed)} $strangler_side_{ident} {{",
            f"    {route.percent:.2f}% target;",
            "    * monolith;",
            "}",
            f'map "$strangler_side_{ident}:$request_method" $strangler_to_{ident} {{',
        ]
        target_named = _named(route, route.target)
        if route.fallback and route.fallback != route.target:
            for method in sorted(READ_METHODS):
                lines.append(f'    "target:{method}" {_named(route, route.target, read=True)};')
        lines += [f"    ~^target: {target_named};", f"    default {_named(route, 'monolith')};"]
        lines += ["}", ""]
    return lines


def _render_request_id() -> list[str]:
    return [
        "# The client's X-Request-Id when it is sane, else nginx's own (as our proxy does).",
        "map $http_x_request_id $strangler_request_id {",
        '    "~^[A-Za-z0-9._:@/+=-]{1,128}$" $http_x_request_id;',
        "    default $request_id;",
        "}",
        "",
    ]


def _header_flag(name: str, wanted: str) -> tuple[str, list[str]]:
    """A variable that is 1 when header ``name`` passes the condition, and its map."""
    source = f"$http_{_ident(name)}"
    if wanted == ANY_VALUE:
        flag = f"$strangler_has_{_ident(name)}"
        return flag, [f"map {source} {flag} {{", '    "" 0;', "    default 1;", "}", ""]
    digest = _ident(wanted)[:24] or "empty"
    flag = f"$strangler_is_{_ident(name)}_{digest}_{len(wanted)}"
    pattern = _quote("~^" + _literal_regex(wanted) + "$")
    return flag, [f"map {source} {flag} {{", f"    {pattern} 1;", "    default 0;", "}", ""]


def _dispatch_variable(location: _Location, number: int) -> str:
    return f"$strangler_route_{number}"


def _render_dispatch_maps(table: RouteTable) -> list[str]:
    lines: list[str] = []
    flags: dict[tuple[str, str], str] = {}
    for route in table.routes:
        for name, value in route.match.headers.items():
            key = (name.lower(), value)
            if key not in flags:
                flag, text = _header_flag(name, value)
                flags[key] = flag
                lines += text
    for text in _extracted_fallback_maps(table):
        lines += text
    for number, location in enumerate(_locations(table), start=1):
        used = sorted(
            {(n.lower(), w) for r in location.candidates for n, w in r.match.headers.items()}
        )
        source = "$request_method" + "".join(f":{flags[key]}" for key in used)
        lines.append(f"# {location.kind} {location.rule}")
        lines.append(f"map {_quote(source)} {_dispatch_variable(location, number)} {{")
        for route in location.candidates:
            methods = "|".join(route.match.methods) if route.match.methods else "[A-Z]+"
            needed = {(n.lower(), w) for n, w in route.match.headers.items()}
            conditions = "".join(":1" if key in needed else ":[01]" for key in used)
            lines.append(f"    {_quote(f'~^({methods}){conditions}$')} {_route_variable(route)};")
        lines += ["    default @strangler_not_found;", "}", ""]
    return lines


def _extracted_fallback_maps(table: RouteTable) -> list[list[str]]:
    """For a route whose target has a fallback: reads go to the variant that falls back."""
    out: list[list[str]] = []
    for route in table.routes:
        target = route.target
        if not (target and route.fallback and route.fallback != target):
            continue
        if route.mode not in ("extracted", "canary"):
            continue
        if route.mode == "canary" and route.percent < 100:
            continue  # the canary's own map picks the read variant
        variable = f"$strangler_via_{_ident(route.name)}_{_ident(target)}"
        text = [f"map $request_method {variable} {{"]
        text += [f"    {m} {_named(route, target, read=True)};" for m in sorted(READ_METHODS)]
        text += [f"    default {_named(route, target)};", "}", ""]
        out.append(text)
    return out


def _proxy_block(table: RouteTable, route: Route, upstream_name: str, *, read: bool) -> list[str]:
    upstream: Upstream = table.upstreams[upstream_name]
    timeout = _seconds(upstream.timeout_s)
    lines = [
        f"    location {_named(route, upstream_name, read=read)} {{",
        f"        proxy_pass http://strangler_{_ident(upstream_name)}$request_uri;",
        f"        proxy_connect_timeout {timeout};",
        f"        proxy_send_timeout {timeout};",
        f"        proxy_read_timeout {timeout};",
    ]
    if upstream.retry.attempts:
        # Never POST or PATCH (nginx's default without non_idempotent); never a timeout.
        lines += [
            "        proxy_next_upstream error http_502 http_503 http_504;",
            f"        proxy_next_upstream_tries {upstream.retry.attempts + 1};",
        ]
    else:
        lines.append("        proxy_next_upstream off;")
    if read and route.fallback:
        lines += [
            "        proxy_intercept_errors on;",
            f"        error_page {_FALLBACK_STATUSES} = {_named(route, route.fallback)};",
        ]
    lines += [
        f"        add_header X-Strangler-Upstream {upstream_name} always;",
        f"        add_header X-Strangler-Route {route.name} always;",
        "        add_header X-Request-Id $strangler_request_id always;",
        "    }",
    ]
    return lines


def _named_locations(table: RouteTable) -> list[str]:
    lines: list[str] = []
    seen: set[str] = set()

    def add(route: Route, upstream: str, *, read: bool = False) -> None:
        name = _named(route, upstream, read=read)
        if name not in seen:
            seen.add(name)
            lines.extend(_proxy_block(table, route, upstream, read=read))

    for route in table.routes:
        add(route, "monolith")
        if route.mode in ("canary", "extracted") and route.target:
            if route.mode == "canary" and route.percent == 0:
                continue
            add(route, route.target)
            if route.fallback and route.fallback != route.target:
                add(route, route.target, read=True)
                add(route, route.fallback)
    return lines


def _render_server(table: RouteTable, listen: str) -> list[str]:
    lines = [
        "server {",
        f"    listen {listen};",
        "    # The jump from a path's location to its route's named location is an error_page;",
        "    # a read's fallback is a second one.",
        "    recursive_error_pages on;",
        "    proxy_http_version 1.1;",
        "    proxy_buffering on;",
        "    # Host as the client sent it (upstreams build links from it); forwarding headers",
        "    # from this connection only, never the client's own.",
        "    proxy_set_header Host $http_host;",
        "    proxy_set_header X-Forwarded-For $remote_addr;",
        "    proxy_set_header X-Forwarded-Proto $scheme;",
        "    proxy_set_header X-Forwarded-Host $http_host;",
        "    proxy_set_header X-Real-IP $remote_addr;",
        "    proxy_set_header X-Request-Id $strangler_request_id;",
    ]
    lines += [f'    proxy_set_header {name} "";' for name in _DROPPED_HEADERS]
    lines += [f'    proxy_set_header {name} "";' for name in _CLIENT_ADDRESS_HEADERS]
    lines += [
        "    proxy_hide_header X-Strangler-Upstream;",
        "    proxy_hide_header X-Strangler-Route;",
        "    # Set again in each location below (add_header is not inherited by one that adds).",
        "    proxy_hide_header X-Request-Id;",
        "    add_header X-Request-Id $strangler_request_id always;",
        "",
        "    # Paths under /internal/ are never forwarded, whatever the routes say.",
        "    location ^~ /internal/ { error_page 418 = @strangler_not_found; return 418; }",
        "    location = /internal { error_page 418 = @strangler_not_found; return 418; }",
        "",
    ]
    has_root = False
    for number, location in enumerate(_locations(table), start=1):
        if location.kind == "path":
            head = f"location = {location.rule}"
        elif location.kind == "path_pattern":
            head = f"location ~ {_quote(path_regex(location.rule))}"
        else:
            head = f"location {location.rule}"
            has_root = has_root or location.rule == "/"
        lines += [
            f"    {head} {{",
            f"        error_page 418 = {_dispatch_variable(location, number)};",
            "        return 418;",
            "    }",
        ]
    if not has_root:
        lines.append("    location / { error_page 418 = @strangler_not_found; return 418; }")
    lines += [
        "",
        "    # No route takes the request: 404, as our proxy answers it.",
        "    location @strangler_not_found {",
        "        default_type application/json;",
        "        add_header X-Request-Id $strangler_request_id always;",
        '        return 404 \'{"code": "not_found", "detail": "Not found."}\';',
        "    }",
        "",
    ]
    lines += _named_locations(table)
    lines.append("}")
    return lines


def nginx_findings(table: RouteTable) -> list[str]:
    """What this table asks that the rendered nginx configuration does not do, one a line."""
    findings: list[str] = []
    for route in table.routes:
        name = route.name
        if route.mode == "canary" and 0 < route.percent < 100:
            if route.sticky == "jwt:sub":
                findings.append(
                    f"route {name}: sticky jwt:sub needs the JWT decoded; stock nginx cannot "
                    "(rendered keyed on the client address)"
                )
            elif _key_variable(route.sticky) is None:
                findings.append(
                    f"route {name}: sticky {route.sticky}: nginx's $cookie_ variables cannot name "
                    "a cookie with '-' or '.' (rendered keyed on the client address)"
                )
        findings += proxy_only_findings(route, "nginx")
        for header, wanted in route.match.headers.items():
            if wanted == ANY_VALUE:
                findings.append(
                    f"route {name}: header {header} '*' also needs a non-empty value in nginx "
                    "(an empty header counts as missing)"
                )
            elif not wanted.isprintable():
                findings.append(f"route {name}: header {header} value is not printable")
        if route.match.kind == "path_pattern":
            findings += _pattern_findings(table, route)
    return findings


def _pattern_findings(table: RouteTable, route: Route) -> list[str]:
    """A pattern route that does not take every method and header leaves requests that our
    router would hand to a later pattern or a longer prefix; nginx's regex location keeps them."""
    if not route.match.methods and not route.match.headers:
        return []
    rule = route.match.rule
    literal = rule[: m.start()] if (m := PLACEHOLDER.search(rule)) else rule
    others = [
        r.name
        for r in table.routes
        if r is not route
        and r.match.rule != rule
        and (
            r.match.kind == "path_pattern"
            or (r.match.kind == "path_prefix" and len(r.match.rule) > len(literal))
        )
    ]
    if not others:
        return []
    return [
        f"route {route.name}: a request its methods/headers refuse may belong to "
        f"{', '.join(others)}; nginx answers it from the routes every path of the pattern "
        "falls under"
    ]

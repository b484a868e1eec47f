"""The route table: its schema, loading, and validation (the part of `lint` that refuses a file).

The file is YAML (see ``proxy/routes.yaml``). Loading never half-succeeds: either a complete,
validated :class:`RouteTable` comes back or :class:`ConfigError` with a one-line-per-problem
message does, and the caller keeps whatever table it had.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from proxy.jsonpath import InvalidJSONPath, compile_jsonpath

Mode = Literal["monolith", "shadow", "canary", "extracted"]
MODES: tuple[Mode, ...] = ("monolith", "shadow", "canary", "extracted")
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Sending one twice has the effect of sending it once (RFC 9110 §9.2.2). POST and PATCH are not.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_STICKY = re.compile(r"^(jwt:sub|header:[A-Za-z0-9-]+|cookie:[A-Za-z0-9_.-]+|client:addr)$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class ConfigError(ValueError):
    """The route file cannot be used; ``str(err)`` says why, one problem per line."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Breaker(_Strict):
    """When a route's target stops answering, skip it (reads go to the route's fallback)."""

    #: Consecutive failures (no answer, or a 5xx) that open the circuit.
    failures: Annotated[int, Field(ge=1, le=1000)] = 5
    #: How long an open circuit skips the upstream before one probe request tries it again.
    cooldown_s: Annotated[float, Field(gt=0, le=3600)] = 5.0


class Retry(_Strict):
    """Retries of idempotent requests (GET, HEAD, OPTIONS, PUT, DELETE; never POST or PATCH) on
    the same upstream after a connection failure or a 502/503/504, under a budget (Envoy's
    retry budget): retries in flight to the upstream stay below ``budget_percent`` of the
    requests in flight to it, but ``min_concurrent`` are always allowed."""

    #: Extra tries per request (0 = no retries).
    attempts: Annotated[int, Field(ge=0, le=3)] = 1
    budget_percent: Annotated[float, Field(ge=0, le=100)] = 20.0
    min_concurrent: Annotated[int, Field(ge=0, le=1000)] = 3


class Upstream(_Strict):
    url: Annotated[str, Field(pattern=r"^https?://[^/\s]+$")]
    timeout_s: Annotated[float, Field(gt=0, le=300)] = 5.0
    #: Whether the upstream honours ``X-Strangler-Dry-Run`` (shadowed writes go only to those).
    dry_run: bool = False
    breaker: Breaker = Breaker()
    retry: Retry = Retry()
    #: Which way sync flows for this upstream's data (read only by lint): ``from_monolith`` -
    #: the service is a copy fed by the monolith (writes must stay on the monolith);
    #: ``to_monolith`` - the service is the source of truth; ``none`` - not declared.
    sync: Literal["from_monolith", "to_monolith", "none"] = "none"


#: ``{name}`` (one path segment) or ``{name:regex}`` (a segment the regex matches whole).
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::([^{}]+))?\}")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
#: A header match value that means "present, with any value".
ANY_VALUE = "*"


class PathPattern:
    """``/api/orders/{id}/cancel/`` compiled: :meth:`matches` tells whether a *whole* path fits.

    A placeholder stands for exactly one non-empty segment: ``{id}`` any segment, ``{id:[0-9]+}``
    a segment the regex matches entirely. A placeholder never spans a ``/``. Everything else is
    literal. ValueError when the pattern cannot be compiled.
    """

    __slots__ = ("_checks", "_regex", "literal_prefix")

    def __init__(self, pattern: str) -> None:
        parts: list[str] = []
        checks: dict[str, re.Pattern[str]] = {}
        names: set[str] = set()
        end = 0
        for found in PLACEHOLDER.finditer(pattern):
            parts.append(_literal(pattern[end : found.start()], pattern))
            name, regex = found.group(1), found.group(2)
            if name in names:
                raise ValueError(f"placeholder {{{name}}} appears twice in {pattern!r}")
            names.add(name)
            if regex is not None:
                try:
                    checks[name] = re.compile(regex)
                except re.error as err:
                    raise ValueError(f"placeholder {{{name}}}: bad regex {regex!r}: {err}") from err
            parts.append(f"(?P<{name}>[^/]+)")
            end = found.end()
        parts.append(_literal(pattern[end:], pattern))
        self._regex = re.compile("".join(parts))
        self._checks = checks
        #: The text before the first placeholder: a cheap test before the regex.
        first = PLACEHOLDER.search(pattern)
        self.literal_prefix = pattern[: first.start()] if first else pattern

    def matches(self, path: str) -> bool:
        if not path.startswith(self.literal_prefix):
            return False
        found = self._regex.fullmatch(path)
        if found is None:
            return False
        return all(check.fullmatch(found.group(name)) for name, check in self._checks.items())


def _literal(text: str, pattern: str) -> str:
    if "{" in text or "}" in text:
        raise ValueError(f"unbalanced '{{' or '}}' in path_pattern {pattern!r}")
    return re.escape(text)


class Match(_Strict):
    """What a request must look like for a route to take it.

    Exactly one path rule: ``path`` (exact), ``path_pattern`` (segments with placeholders, see
    :class:`PathPattern`) or ``path_prefix``. Optionally ``methods`` (none = all) and
    ``headers`` (every named header must be present with exactly that value; ``"*"`` = any value).
    """

    path_prefix: str | None = None
    path: str | None = None
    path_pattern: str | None = None
    methods: tuple[str, ...] = ()
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        upper = tuple(m.upper() for m in value)
        unknown = sorted(set(upper) - HTTP_METHODS)
        if unknown:
            raise ValueError(f"unknown HTTP method(s): {', '.join(unknown)}")
        return upper

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: dict[str, str]) -> dict[str, str]:
        bad = sorted(name for name in value if not _HEADER_NAME.match(name))
        if bad:
            raise ValueError(f"not a header name: {', '.join(repr(b) for b in bad)}")
        lowered = [name.lower() for name in value]
        if len(set(lowered)) != len(lowered):
            raise ValueError("a header is named twice (names are case-insensitive)")
        return value

    @model_validator(mode="after")
    def _one_path_rule(self) -> Match:
        rules = [r for r in (self.path, self.path_pattern, self.path_prefix) if r is not None]
        if len(rules) != 1:
            raise ValueError("give exactly one of path, path_pattern or path_prefix")
        rule = rules[0]
        if not rule.startswith("/"):
            raise ValueError(f"path rule {rule!r} must start with '/'")
        if self.path_pattern is not None:
            PathPattern(self.path_pattern)
        return self

    @property
    def kind(self) -> Literal["path", "path_pattern", "path_prefix"]:
        if self.path is not None:
            return "path"
        return "path_pattern" if self.path_pattern is not None else "path_prefix"

    @property
    def rule(self) -> str:
        """The path rule's text, whichever kind it is."""
        rule = self.path if self.path is not None else self.path_pattern or self.path_prefix
        assert rule is not None
        return rule

    def accepts_method(self, method: str) -> bool:
        return not self.methods or method in self.methods

    def header_mismatch(self, headers: Mapping[str, str]) -> str | None:
        """Why ``headers`` (case-insensitive mapping) fail this match, or None when they pass."""
        for name, wanted in self.headers.items():
            given = headers.get(name)
            if given is None:
                return f"header {name} is missing"
            if wanted != ANY_VALUE and given != wanted:
                return f"header {name} is not {wanted!r}"
        return None

    def unsafe_methods(self) -> bool:
        """True when this match admits a method that writes."""
        return not self.methods or bool(set(self.methods) - SAFE_METHODS)


TimestampPrecision = Literal["ms", "s"]
#: A relative tolerance: a percentage of the expected (monolith) value, e.g. ``"0.5%"``.
_RELATIVE = re.compile(r"^(\d+(\.\d+)?)%$")
#: Response headers compared when a route names none (the rest always differ: Date, Server...).
DEFAULT_COMPARED_HEADERS: tuple[str, ...] = ("content-type", "location")


class CompareRules(_Strict):
    """How a route's shadow answers are compared (semantics in :mod:`proxy.compare`)."""

    #: JSONPath expressions removed from both bodies before comparing.
    ignore: tuple[str, ...] = ()
    #: JSONPath expressions of arrays compared as multisets.
    unordered: tuple[str, ...] = ()
    #: JSONPath -> allowed difference of a number (or a decimal string such as a price): a
    #: number is absolute (``0.005``), a string ending in ``%`` is relative to the expected
    #: value (``"0.5%"``).
    tolerance: dict[str, float | str] = {}
    #: RFC 3339 date-times compared truncated to this precision after conversion to UTC: one
    #: precision for every string that is a date-time, or JSONPath -> precision.
    timestamp_precision: TimestampPrecision | dict[str, TimestampPrecision] | None = None
    #: Response headers compared (case-insensitive names); every other header is ignored.
    headers: tuple[str, ...] = DEFAULT_COMPARED_HEADERS

    @field_validator("tolerance")
    @classmethod
    def _tolerance_values(cls, value: dict[str, float | str]) -> dict[str, float | str]:
        for path, allowed in value.items():
            if isinstance(allowed, str):
                if not _RELATIVE.match(allowed.strip()):
                    raise ValueError(
                        f"tolerance of {path!r}: {allowed!r} is neither a number nor a "
                        "percentage such as '0.5%'"
                    )
            elif not allowed >= 0 or allowed == float("inf"):
                raise ValueError(f"tolerance of {path!r} must be a finite number >= 0")
        return value

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        names = tuple(dict.fromkeys(name.strip().lower() for name in value))
        bad = [name for name in names if not re.fullmatch(r"[a-z0-9!#$%&'*+.^_`|~-]+", name)]
        if bad:
            raise ValueError(f"not header names: {', '.join(map(repr, bad))}")
        return names

    @model_validator(mode="after")
    def _usable_paths(self) -> CompareRules:
        if not (self.ignore or self.unordered or self.tolerance) and not isinstance(
            self.timestamp_precision, dict
        ):
            return self  # no JSONPath to check (and the default instance is built at import)
        problems = check_rules(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self


def check_rules(rules: CompareRules) -> list[str]:
    """One line per rule that cannot be applied (empty when every rule is usable)."""
    precision = rules.timestamp_precision
    problems = []
    for name, expressions in (
        ("ignore", rules.ignore),
        ("unordered", rules.unordered),
        ("tolerance", tuple(rules.tolerance)),
        ("timestamp_precision", tuple(precision) if isinstance(precision, dict) else ()),
    ):
        for expression in expressions:
            try:
                compile_jsonpath(expression)
            except InvalidJSONPath as err:
                problems.append(f"compare.{name}: {err}")
    return problems


class ReadYourWrites(_Strict):
    """Keep a client's reads on the side that served its last write, for ``window_s``."""

    window_s: Annotated[float, Field(gt=0, le=3600)]
    #: Routes sharing a group share the memory (a writes route and its reads route); default:
    #: the route's own name. Routes of one group should use the same ``sticky`` key.
    group: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")] | None = None


class Record(_Strict):
    """Keep a sample of the route's live requests (credentials and card tokens redacted) for
    ``strangler compare --recorded``: ``percent`` of the answered requests, the newest
    ``max_requests`` of them."""

    percent: Annotated[float, Field(gt=0, le=100)]
    max_requests: Annotated[int, Field(ge=1, le=100_000)] = 1000


class Route(_Strict):
    name: str
    match: Match
    mode: Mode = "monolith"
    target: str | None = None
    percent: Annotated[float, Field(ge=0, le=100)] = 0
    sticky: str = "client:addr"
    fallback: str | None = None
    compare: CompareRules = CompareRules()
    read_your_writes: ReadYourWrites | None = None
    #: Off unless given (proxy/recording.py).
    record: Record | None = None

    @property
    def write_group(self) -> str:
        """The read-your-writes memory this route reads and feeds."""
        ryw = self.read_your_writes
        return ryw.group if ryw is not None and ryw.group else self.name

    @field_validator("name")
    @classmethod
    def _name_shape(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("route names are lowercase letters, digits and '-' (max 63)")
        return value

    @field_validator("percent")
    @classmethod
    def _granularity(cls, value: float) -> float:
        # Buckets are 1/100 of a percent; a finer setting would be silently rounded.
        if round(value * 100) != value * 100:
            raise ValueError("percent has at most two decimal places (0.01% granularity)")
        return value

    @field_validator("sticky")
    @classmethod
    def _sticky_shape(cls, value: str) -> str:
        if not _STICKY.match(value):
            raise ValueError("sticky is one of jwt:sub, header:<Name>, cookie:<name>, client:addr")
        return value

    @model_validator(mode="after")
    def _target_for_mode(self) -> Route:
        if self.mode != "monolith" and not self.target:
            raise ValueError(f"mode {self.mode!r} needs a target upstream")
        return self


class RouteTable(_Strict):
    upstreams: dict[str, Upstream]
    routes: tuple[Route, ...] = ()
    #: sha256 of the file bytes this table was loaded from (set by the loader).
    digest: str = ""

    @model_validator(mode="after")
    def _references(self) -> RouteTable:
        problems: list[str] = []
        if "monolith" not in self.upstreams:
            problems.append("upstreams: a 'monolith' upstream is required")
        seen: set[str] = set()
        for route in self.routes:
            if route.name in seen:
                problems.append(f"routes: duplicate route name {route.name!r}")
            seen.add(route.name)
            for field in ("target", "fallback"):
                ref = getattr(route, field)
                if ref is not None and ref not in self.upstreams:
                    problems.append(f"route {route.name!r}: {field} {ref!r} is not an upstream")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def route(self, name: str) -> Route:
        for route in self.routes:
            if route.name == name:
                return route
        raise KeyError(name)


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _plain(node: object) -> object:
    """ruamel round-trip nodes -> plain dicts/lists, so pydantic sees ordinary data."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def validation_problems(err: ValidationError, *, root: str) -> list[str]:
    """One ``where: what`` line per problem pydantic found (``root`` names the whole document)."""
    return [
        f"{'.'.join(str(part) for part in problem['loc']) or root}: "
        f"{problem['msg'].removeprefix('Value error, ')}"
        for problem in err.errors()
    ]


def parse_route_table(text: str, *, source: str = "<string>") -> RouteTable:
    """Parse and validate route-file text; raise :class:`ConfigError` on any problem."""
    try:
        data = _yaml().load(text)
    except YAMLError as err:
        raise ConfigError(f"{source}: not valid YAML: {err}".replace("\n", " ")) from err
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping with 'upstreams' and 'routes'")
    plain = _plain(data)
    assert isinstance(plain, dict)
    plain["digest"] = hashlib.sha256(text.encode()).hexdigest()
    try:
        return RouteTable.model_validate(plain)
    except ValidationError as err:
        raise ConfigError(
            f"{source}: invalid route table:\n" + "\n".join(validation_problems(err, root="file"))
        ) from err


def load_route_table(path: str | Path) -> RouteTable:
    """Read and validate the route file at ``path``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"{path}: cannot read route file: {err.strerror}") from err
    return parse_route_table(text, source=str(path))

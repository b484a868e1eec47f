"""The route table: its schema, loading, and validation (the part of `lint` that refuses a file).

The file is YAML (see ``proxy/routes.yaml``). Loading never half-succeeds: either a complete,
validated :class:`RouteTable` comes back or :class:`ConfigError` with a one-line-per-problem
message does, and the caller keeps whatever table it had.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

Mode = Literal["monolith", "shadow", "canary", "extracted"]
MODES: tuple[Mode, ...] = ("monolith", "shadow", "canary", "extracted")
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
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


class Upstream(_Strict):
    url: Annotated[str, Field(pattern=r"^https?://[^/\s]+$")]
    timeout_s: Annotated[float, Field(gt=0, le=300)] = 5.0
    #: Whether the upstream honours ``X-Strangler-Dry-Run`` (shadowed writes go only to those).
    dry_run: bool = False
    breaker: Breaker = Breaker()


class Match(_Strict):
    path_prefix: str | None = None
    path: str | None = None
    methods: tuple[str, ...] = ()

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        upper = tuple(m.upper() for m in value)
        unknown = sorted(set(upper) - HTTP_METHODS)
        if unknown:
            raise ValueError(f"unknown HTTP method(s): {', '.join(unknown)}")
        return upper

    @model_validator(mode="after")
    def _one_path_rule(self) -> Match:
        if (self.path_prefix is None) == (self.path is None):
            raise ValueError("give exactly one of path_prefix or path")
        rule = self.path_prefix if self.path_prefix is not None else self.path
        assert rule is not None
        if not rule.startswith("/"):
            raise ValueError(f"path rule {rule!r} must start with '/'")
        return self

    def accepts_method(self, method: str) -> bool:
        return not self.methods or method in self.methods

    def unsafe_methods(self) -> bool:
        """True when this match admits a method that writes."""
        return not self.methods or bool(set(self.methods) - SAFE_METHODS)


class CompareRules(_Strict):
    #: JSONPath expressions removed from both bodies before comparing.
    ignore: tuple[str, ...] = ()
    #: JSONPath expressions of arrays compared as multisets.
    unordered: tuple[str, ...] = ()


class Route(_Strict):
    name: str
    match: Match
    mode: Mode = "monolith"
    target: str | None = None
    percent: Annotated[float, Field(ge=0, le=100)] = 0
    sticky: str = "client:addr"
    fallback: str | None = None
    compare: CompareRules = CompareRules()

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

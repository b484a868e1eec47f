"""Scenarios: a list of requests replayed against the monolith and a target, answers compared.

A scenario file is YAML — either a list of steps or a mapping with ``steps`` and optional
``name``, ``description`` and ``compare`` (the rules for every step)::

    name: inventory
    compare: {ignore: [], unordered: []}
    steps:
      - name: create a product
        method: POST
        path: /api/inventory/products/
        body: {sku: "SCN-{run}", name: "Mug", price: "9.90"}
        expect_status: 201
        compare: {ignore: [$.created_at, $.updated_at]}   # added to the scenario's rules

Placeholders in paths, header values and body strings: ``{run}`` is a token unique to the run (so
creates never collide), ``{uuid:NAME}`` a UUID chosen once per run for each NAME, and
``{env:NAME}`` the runner's environment variable NAME (what only the operator knows: a bearer
token minted by the monolith, the id of a row present on both sides); a missing one is a
``ScenarioError``.

Writes go out with ``X-Strangler-Dry-Run: 1`` unless ``live_writes``: both sides roll them back,
so a comparison never changes either database. A successful write that does not come back marked
``X-Strangler-Dry-Run: rolled-back`` is reported — that side may have kept it.

The A/A mode sends every step to the monolith twice: what differs then differs by itself (times,
generated ids) and the report proposes ignore rules for it. The same runner backs
``strangler compare`` and ``tests/parity``.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from proxy.compare import Difference, Exchange, compare_exchanges
from proxy.config import (
    HTTP_METHODS,
    SAFE_METHODS,
    CompareRules,
    check_rules,
    validation_problems,
)

if TYPE_CHECKING:
    import httpx

DRY_RUN_HEADER = "X-Strangler-Dry-Run"
ROLLED_BACK = "rolled-back"
_PLACEHOLDER = re.compile(r"\{(run|uuid:[A-Za-z0-9_.-]+|env:[A-Za-z_][A-Za-z0-9_]*)\}")
_INDEX = re.compile(r"\[\d+\]")
_BODY_PREVIEW = 2000


class ScenarioError(ValueError):
    """The scenario cannot be run (unreadable, invalid, or a side unreachable): one line."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Step(_Strict):
    name: Annotated[str, Field(min_length=1)]
    method: str = "GET"
    path: str
    #: A JSON body (sent as ``application/json``).
    body: Any = None
    #: Exact body text, for bodies JSON cannot express (malformed JSON, other media types).
    raw_body: str | None = None
    headers: dict[str, str] = {}
    expect_status: Annotated[int, Field(ge=100, le=599)] | None = None
    #: Rules for this step only, added to the scenario's (or the route's) rules.
    compare: CompareRules = CompareRules()
    #: Send path, headers and body as they are, placeholders and all (recorded traffic: what a
    #: client sent must never reach into the operator's environment).
    literal: bool = False

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str) -> str:
        if value.upper() not in HTTP_METHODS:
            raise ValueError(f"unknown HTTP method {value!r}")
        return value.upper()

    @field_validator("path")
    @classmethod
    def _absolute_path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("path must start with '/'")
        return value

    @property
    def writes(self) -> bool:
        return self.method not in SAFE_METHODS


class Scenario(_Strict):
    name: str = "scenario"
    description: str = ""
    compare: CompareRules = CompareRules()
    steps: Annotated[list[Step], Field(min_length=1)]

    @field_validator("steps")
    @classmethod
    def _unique_names(cls, steps: list[Step]) -> list[Step]:
        seen: set[str] = set()
        for step in steps:
            if step.name in seen:
                raise ValueError(f"duplicate step name {step.name!r}")
            seen.add(step.name)
        return steps


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; :class:`ScenarioError` (one line) when it cannot."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ScenarioError(f"{path}: cannot read scenario: {err.strerror or err}") from err
    except UnicodeDecodeError as err:
        raise ScenarioError(f"{path}: cannot read scenario: not UTF-8 text") from err
    return parse_scenario(text, source=str(path))


def parse_scenario(text: str, *, source: str = "<string>") -> Scenario:
    try:
        data = _plain(YAML(typ="safe").load(text))
    except YAMLError as err:
        raise ScenarioError(f"{source}: not valid YAML: {_one_line(str(err))}") from err
    if isinstance(data, list):
        data = {"steps": data}
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: expected a list of steps or a mapping with 'steps'")
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(validation_problems(err, root="file"))
        raise ScenarioError(f"{source}: invalid scenario: {problems}") from err
    rule_problems = check_rules(scenario.compare) + [
        f"step {step.name!r}: {problem}"
        for step in scenario.steps
        for problem in check_rules(step.compare)
    ]
    if rule_problems:
        raise ScenarioError(f"{source}: invalid scenario: {'; '.join(rule_problems)}")
    return scenario


def _plain(node: Any) -> Any:
    # YAML timestamps/dates would not be JSON: keep every scalar JSON-native.
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if node is None or isinstance(node, bool | int | float | str):
        return node
    return str(node)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def merge_rules(*rules: CompareRules) -> CompareRules:
    """The union of several rule sets (order kept, duplicates dropped). Tolerances and
    per-path precisions merge with the later set winning a path; a global timestamp precision
    or a header list of a later set replaces an earlier one when it differs from the default."""
    ignore = dict.fromkeys(path for r in rules for path in r.ignore)
    unordered = dict.fromkeys(path for r in rules for path in r.unordered)
    tolerance: dict[str, float | str] = {}
    precision: str | dict[str, str] | None = None
    headers = CompareRules().headers
    for r in rules:
        tolerance.update(r.tolerance)
        if isinstance(r.timestamp_precision, str):
            precision = r.timestamp_precision
        elif r.timestamp_precision and not isinstance(precision, str):
            precision = {**(precision or {}), **r.timestamp_precision}
        if "headers" in r.model_fields_set:
            headers = r.headers
    return CompareRules(
        ignore=tuple(ignore),
        unordered=tuple(unordered),
        tolerance=tolerance,
        timestamp_precision=precision,  # type: ignore[arg-type]
        headers=headers,
    )


@dataclass(frozen=True)
class Placeholders:
    """The values ``{run}``, ``{uuid:NAME}`` and ``{env:NAME}`` take in one run."""

    run: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    uuids: dict[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    def render(self, value: Any) -> Any:
        if isinstance(value, str):
            return _PLACEHOLDER.sub(self._substitute, value)
        if isinstance(value, list):
            return [self.render(item) for item in value]
        if isinstance(value, dict):
            return {self.render(k): self.render(v) for k, v in value.items()}
        return value

    def _substitute(self, match: re.Match[str]) -> str:
        token = match.group(1)
        if token == "run":
            return self.run
        if token.startswith("env:"):
            name = token.removeprefix("env:")
            value = self.env.get(name)
            if value is None:
                raise ScenarioError(f"the scenario needs the environment variable {name}")
            return value
        name = token.removeprefix("uuid:")
        return self.uuids.setdefault(name, str(uuid.uuid4()))


@dataclass(frozen=True)
class SentRequest:
    method: str
    path: str
    headers: dict[str, str]
    content: bytes | None


@dataclass(frozen=True)
class StepResult:
    name: str
    method: str
    path: str
    request_body: str | None
    expected: Exchange
    actual: Exchange
    #: Differences under the effective rules: these make the step fail.
    differences: list[Difference]
    #: A/A only: what differed with no rules at all (the monolith's own noise).
    noise: list[Difference] = field(default_factory=list)
    #: ``expect_status`` was set and the monolith answered something else.
    expectation: str | None = None
    #: Sides that answered a dry-run write without marking it rolled back.
    dry_run_problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences and self.expectation is None and not self.dry_run_problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "method": self.method,
            "path": self.path,
            "request_body": self.request_body,
            "ok": self.ok,
            "status": [self.expected.status, self.actual.status],
            "differences": [d.as_dict() for d in self.differences],
            "noise": [d.as_dict() for d in self.noise],
            "expectation": self.expectation,
            "dry_run_problems": self.dry_run_problems,
            "expected_body": _preview(self.expected.body),
            "actual_body": _preview(self.actual.body),
        }


@dataclass(frozen=True)
class ScenarioReport:
    scenario: str
    monolith_url: str
    target_url: str
    aa: bool
    live_writes: bool
    run: str
    rules: CompareRules
    steps: list[StepResult]

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps)

    @property
    def failed(self) -> list[StepResult]:
        return [step for step in self.steps if not step.ok]

    def proposed_ignores(self) -> list[str]:
        """A/A: JSONPaths (indices generalised to ``[*]``) that differ by themselves and are not
        ignored yet — the rules the scenario or route should carry."""
        proposals: dict[str, None] = {}
        for step in self.steps:
            for difference in step.differences:
                if difference.where.startswith("$") and not _is_key_order(difference):
                    proposals.setdefault(_INDEX.sub("[*]", difference.where))
        return list(proposals)

    def explained_by_proposals(self) -> bool:
        """A/A: every problem is a field the proposed ignore rules cover (nothing else differs:
        no status, header or key-order difference, no expectation or dry-run problem)."""
        return all(
            not step.expectation
            and not step.dry_run_problems
            and all(
                difference.where.startswith("$") and not _is_key_order(difference)
                for difference in step.differences
            )
            for step in self.steps
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "monolith": self.monolith_url,
            "target": self.target_url,
            "mode": "aa" if self.aa else "ab",
            "live_writes": self.live_writes,
            "run": self.run,
            "rules": self.rules.model_dump(mode="json"),
            "ok": self.ok,
            "summary": {"steps": len(self.steps), "failed": len(self.failed)},
            "proposed_ignores": self.proposed_ignores() if self.aa else [],
            "steps": [step.as_dict() for step in self.steps],
        }


def _is_key_order(difference: Difference) -> bool:
    # compare reports arrays element by element; a whole list as "changed" is a key-order one.
    return (
        difference.kind == "changed"
        and isinstance(difference.expected, list)
        and isinstance(difference.actual, list)
    )


def _preview(body: bytes) -> str:
    text = body[:_BODY_PREVIEW].decode("utf-8", errors="replace")
    return text + (f"... ({len(body)} bytes)" if len(body) > _BODY_PREVIEW else "")


def run_scenario(
    scenario: Scenario,
    *,
    monolith_url: str,
    target_url: str | None = None,
    rules: CompareRules | None = None,
    aa: bool = False,
    live_writes: bool = False,
    host: str | None = None,
    timeout_s: float = 10.0,
    placeholders: Placeholders | None = None,
    on_step: Callable[[str], None] | None = None,
) -> ScenarioReport:
    """Send every step to both sides (the monolith twice with ``aa``) and compare the answers.
    ``on_step`` is called with each step's name once its answers are compared (a progress bar).

    ``rules`` replaces the scenario's own rules (e.g. a route's); each step's rules are added.
    Both sides get the same ``Host`` header (default: the monolith's), so the pagination links
    they build are comparable. :class:`ScenarioError` when a side cannot be reached.
    """
    if not aa and not target_url:
        raise ScenarioError("a target URL is needed (or use the A/A mode)")
    actual_url = monolith_url if aa else str(target_url)
    base_rules = rules if rules is not None else scenario.compare
    placeholders = placeholders or Placeholders()
    host = host or urlsplit(monolith_url).netloc
    results: list[StepResult] = []
    # Imported here, where a scenario runs (the CLI): the proxy's processes load this module
    # for recordings (proxy/recording.py) and never send a step.
    import httpx

    with (
        httpx.Client(base_url=monolith_url, timeout=timeout_s) as expected_client,
        httpx.Client(base_url=actual_url, timeout=timeout_s) as actual_client,
    ):
        for step in scenario.steps:
            request = _build_request(step, placeholders, host=host, live_writes=live_writes)
            expected = _send(expected_client, request, "monolith", monolith_url)
            actual = _send(actual_client, request, "monolith (A/A)" if aa else "target", actual_url)
            step_rules = merge_rules(base_rules, step.compare)
            differences = compare_exchanges(expected, actual, step_rules)
            noise = compare_exchanges(expected, actual, CompareRules()) if aa else []
            expectation = None
            if step.expect_status is not None and expected.status != step.expect_status:
                expectation = (
                    f"expected status {step.expect_status}, the monolith answered {expected.status}"
                )
            problems = []
            if step.writes and not live_writes:
                for side, exchange in (("monolith", expected), ("target", actual)):
                    if 200 <= exchange.status < 300 and _rolled_back(exchange) is False:
                        problems.append(
                            f"{side} answered {exchange.status} without "
                            f"{DRY_RUN_HEADER}: {ROLLED_BACK}; the write may have been kept"
                        )
            results.append(
                StepResult(
                    name=step.name,
                    method=request.method,
                    path=request.path,
                    request_body=(
                        request.content.decode("utf-8", errors="replace")
                        if request.content is not None
                        else None
                    ),
                    expected=expected,
                    actual=actual,
                    differences=differences,
                    noise=noise,
                    expectation=expectation,
                    dry_run_problems=problems,
                )
            )
            if on_step is not None:
                on_step(step.name)
    return ScenarioReport(
        scenario=scenario.name,
        monolith_url=monolith_url,
        target_url=actual_url,
        aa=aa,
        live_writes=live_writes,
        run=placeholders.run,
        rules=base_rules,
        steps=results,
    )


def _build_request(
    step: Step, placeholders: Placeholders, *, host: str, live_writes: bool
) -> SentRequest:
    render = _as_is if step.literal else placeholders.render
    headers = {"Host": host, "Accept": "application/json"}
    content: bytes | None = None
    if step.raw_body is not None:
        content = render(step.raw_body).encode("utf-8")
        headers["Content-Type"] = "application/json"
    elif step.body is not None:
        content = json.dumps(render(step.body)).encode("utf-8")
        headers["Content-Type"] = "application/json"
    if step.writes and not live_writes:
        headers[DRY_RUN_HEADER] = "1"
    for name, value in step.headers.items():
        # A step's own header replaces a default of the same name, whatever its case.
        for existing in [h for h in headers if h.lower() == name.lower()]:
            del headers[existing]
        headers[name] = render(value)
    return SentRequest(step.method, render(step.path), headers, content)


def _as_is(value: Any) -> Any:
    return value


def _send(client: httpx.Client, request: SentRequest, side: str, url: str) -> Exchange:
    import httpx

    try:
        response = client.request(
            request.method, request.path, headers=request.headers, content=request.content
        )
    except httpx.HTTPError as err:
        raise ScenarioError(
            f"cannot reach the {side} at {url} ({request.method} {request.path}): "
            f"{_one_line(str(err)) or type(err).__name__}"
        ) from err
    return Exchange(response.status_code, _headers(response.headers), response.content)


def _headers(headers: httpx.Headers) -> Mapping[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def _rolled_back(exchange: Exchange) -> bool:
    return exchange.headers.get(DRY_RUN_HEADER.lower(), "").strip().lower() == ROLLED_BACK

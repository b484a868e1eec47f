"""The plan file's schema (pydantic) and its loader: steps, route actions, gates, rollbacks.

``load_plan`` either returns a complete, checked :class:`Plan` or raises :class:`PlanError` with
one line saying what is wrong — including a rollback that would not restore the flags the
previous step left (checked by replaying the actions symbolically).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from contracts.events import Capability
from protocol.reconcile_spec import SPECS
from proxy.config import validation_problems
from proxy.config_edit import EDITABLE_KEYS

DEFAULT_PLAN = Path(__file__).resolve().parent / "plan.yaml"
_SLUG = r"^[a-z0-9][a-z0-9-]{0,62}$"


class PlanError(ValueError):
    """The plan or its state cannot be used; ``str(err)`` is one line."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RouteAction(_Strict):
    """Set flags of one route (``None`` removes an optional key), via proxy.config_edit."""

    route: str
    set: dict[str, Any]

    @field_validator("set")
    @classmethod
    def _editable(cls, value: dict[str, Any]) -> dict[str, Any]:
        if not value:
            raise ValueError("set at least one flag")
        unknown = sorted(set(value) - set(EDITABLE_KEYS))
        if unknown:
            raise ValueError(
                f"cannot set {', '.join(unknown)}: flags are {', '.join(EDITABLE_KEYS)}"
            )
        return value

    def describe(self) -> str:
        flags = ", ".join(f"{key}={'(removed)' if v is None else v}" for key, v in self.set.items())
        return f"{self.route}: {flags}"


class SyncAction(_Strict):
    """Switch which owner takes ``sync``'s writes, with a drain (``sync.control.direction.switch``):
    ``reverse`` makes the service the source (its outbox flows back into the monolith),
    ``forward`` gives the writes back to the monolith. The step's route actions run inside the
    switch, once the new source takes writes (before that, the old source answers 503).
    ``retired`` cuts the cord: reverse sync stops and the monolith's tables of the capability
    are frozen read-only for good (an irreversible step's action only; a step may retire
    several capabilities)."""

    sync: Capability
    direction: Literal["forward", "reverse", "retired"]
    #: How long the drain may take before the switch gives up and undoes its freeze.
    drain_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 60.0

    def describe(self) -> str:
        if self.direction == "retired":
            return (
                f"sync {self.sync}: retired (reverse sync stopped, the monolith's {self.sync} "
                f"tables read-only for good; drain ≤ {self.drain_timeout_s:g}s)"
            )
        return f"sync {self.sync}: writes {self.direction} (drain ≤ {self.drain_timeout_s:g}s)"


Action = RouteAction | SyncAction


class ShadowParityGate(_Strict):
    """Enough shadowed requests compared, and few enough mismatches, since the step started."""

    kind: Literal["shadow_parity"]
    route: str
    min_compared: Annotated[int, Field(ge=0)] = 100
    max_mismatches: Annotated[int, Field(ge=0)] = 0

    def describe(self) -> str:
        return (
            f"shadow parity on {self.route}: ≥ {self.min_compared} compared, "
            f"≤ {self.max_mismatches} mismatches"
        )


class SyncBacklogGate(_Strict):
    """The outbox is drained of ``capability``'s events: few pending, none of them old."""

    kind: Literal["sync_backlog"]
    capability: Capability = "inventory"
    max_pending: Annotated[int, Field(ge=0)] = 0
    max_age_s: Annotated[float, Field(ge=0)] = 5.0

    def describe(self) -> str:
        return (
            f"sync backlog ({self.capability}): ≤ {self.max_pending} pending, "
            f"oldest ≤ {self.max_age_s:g}s"
        )


class BackfillDoneGate(_Strict):
    """The backfill checkpoint for ``job`` says done, at the service of the capability that
    owns the job (``sync.backfill_jobs``)."""

    kind: Literal["backfill_done"]
    job: str

    def describe(self) -> str:
        return f"backfill {self.job!r} done"


class ErrorRateGate(_Strict):
    """Few enough proxy errors on a route since the step started (and enough traffic to say)."""

    kind: Literal["error_rate"]
    route: str
    max_rate: Annotated[float, Field(ge=0, le=1)] = 0.01
    min_requests: Annotated[int, Field(ge=0)] = 0

    def describe(self) -> str:
        return (
            f"error rate on {self.route}: ≤ {self.max_rate:.2%} over ≥ {self.min_requests} requests"
        )


class ReverseBacklogGate(_Strict):
    """Reverse sync keeps up: few of the service's own events unsent, none old, and no event the
    monolith had to park as a dead letter."""

    kind: Literal["reverse_backlog"]
    capability: Capability = "inventory"
    max_pending: Annotated[int, Field(ge=0)] = 0
    max_age_s: Annotated[float, Field(ge=0)] = 5.0
    max_dead_letters: Annotated[int, Field(ge=0)] = 0

    def describe(self) -> str:
        return (
            f"reverse backlog ({self.capability}): ≤ {self.max_pending} pending, "
            f"oldest ≤ {self.max_age_s:g}s, ≤ {self.max_dead_letters} dead letters"
        )


class ReconcileDriftGate(_Strict):
    """A reconciliation of each of ``aggregates`` (`strangler sync reconcile`) finished within
    the last ``max_age_s`` seconds and found no drift (or repaired all of it).

    The gate reads the newest run each owner stored (its sync stats' ``reconciliations``); it
    does not run one itself: a gate is a read that `plan status` evaluates at will, while a run
    is minutes of checksums on a large table, needs the sync token and records itself at the
    owner. The page says which `strangler sync reconcile` line makes the run the gate reads."""

    kind: Literal["reconcile_drift"]
    aggregates: Annotated[tuple[str, ...], Field(min_length=1)]
    max_age_s: Annotated[float, Field(gt=0)] = 600.0

    @field_validator("aggregates")
    @classmethod
    def _known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(SPECS))
        if unknown:
            raise ValueError(
                f"unknown aggregate(s) {', '.join(unknown)}: known are {', '.join(SPECS)}"
            )
        return value

    def describe(self) -> str:
        return (
            f"reconciliation of {', '.join(self.aggregates)}: no drift, "
            f"run ≤ {self.max_age_s:g}s ago"
        )


class BooksBalanceGate(_Strict):
    """The books agree across owners (migrations_plan.books): every product's reserved stock is
    the sum of its pending reservations; each confirmed order has a pending reservation and a
    payment captured for its total, each fulfilled order a committed reservation and a captured
    payment; no pending reservation or captured payment of an order is left without its order.
    Each capability is read from the owner that takes its writes now."""

    kind: Literal["books_balance"]

    def describe(self) -> str:
        return "books balance (stock, reservations, payments, orders)"


class MonolithServedGate(_Strict):
    """Retirement: the monolith answered none of ``routes``' requests since the step started,
    over a window of at least ``min_window_s`` seconds and ``min_requests`` requests (the proxy
    counts each answer by the upstream that gave it, fallbacks included)."""

    kind: Literal["monolith_served"]
    routes: Annotated[tuple[str, ...], Field(min_length=1)]
    max_requests: Annotated[int, Field(ge=0)] = 0
    min_requests: Annotated[int, Field(ge=0)] = 100
    min_window_s: Annotated[float, Field(ge=0)] = 60.0

    def describe(self) -> str:
        return (
            f"monolith serves ≤ {self.max_requests} requests of {len(self.routes)} business "
            f"routes over ≥ {self.min_window_s:g}s"
        )


Gate = Annotated[
    ShadowParityGate
    | SyncBacklogGate
    | BackfillDoneGate
    | ErrorRateGate
    | ReverseBacklogGate
    | ReconcileDriftGate
    | BooksBalanceGate
    | MonolithServedGate,
    Field(discriminator="kind"),
]


class Step(_Strict):
    id: Annotated[str, Field(pattern=_SLUG)]
    title: str
    #: The phase the step belongs to (a capability, ``retire``, ...): `plan status` shows it.
    phase: Annotated[str, Field(pattern=_SLUG)] = "main"
    #: A step that cannot be undone: the walk enters it only with ``--confirm``, it has no
    #: rollback, and it must be the plan's last step.
    irreversible: bool = False
    #: What cannot be undone once an irreversible step is taken (shown before ``--confirm``).
    cannot_undo: tuple[str, ...] = ()
    #: The workshop page, relative to the plan file.
    page: str
    #: What the attendee runs by hand during this step (shown by status/next).
    instructions: tuple[str, ...] = ()
    actions: tuple[Action, ...] = ()
    #: What must hold before the walk may leave this step.
    gates: tuple[Gate, ...] = ()
    #: The flag changes (and direction switches) that undo this step's actions.
    rollback: tuple[Action, ...] = ()

    def routes_watched(self) -> list[str]:
        routes = {g.route for g in self.gates if isinstance(g, ShadowParityGate | ErrorRateGate)}
        for gate in self.gates:
            if isinstance(gate, MonolithServedGate):
                routes.update(gate.routes)
        return sorted(routes)


class Plan(_Strict):
    name: Annotated[str, Field(pattern=_SLUG)]
    title: str
    description: str = ""
    steps: Annotated[tuple[Step, ...], Field(min_length=1)]

    @field_validator("steps")
    @classmethod
    def _unique_ids(cls, steps: tuple[Step, ...]) -> tuple[Step, ...]:
        seen: set[str] = set()
        for step in steps:
            if step.id in seen:
                raise ValueError(f"duplicate step id {step.id!r}")
            seen.add(step.id)
        return steps

    def phases(self) -> list[str]:
        """The phases in the order the walk meets them."""
        return list(dict.fromkeys(step.phase for step in self.steps))

    def index(self, step_id: str) -> int:
        for number, step in enumerate(self.steps):
            if step.id == step_id:
                return number
        raise PlanError(f"the plan has no step {step_id!r}")

    def find(self, ref: str) -> Step:
        """A step by id or by 1-based number."""
        if ref.isdigit() and 1 <= int(ref) <= len(self.steps):
            return self.steps[int(ref) - 1]
        return self.steps[self.index(ref)]


def rollback_problems(plan: Plan) -> list[str]:
    """Steps whose rollback does not put back the flags their actions changed.

    The walk is replayed on a symbolic flag table: a flag's value before step N is known when an
    earlier step set it; the rollback of N must restore every known flag N's actions changed. A
    direction switch is undone by the opposite switch of the same capability.
    """
    flags: dict[tuple[str, str], Any] = {}
    problems: list[str] = []
    problems += _irreversible_problems(plan)
    problems += _retirement_problems(plan)
    for step in plan.steps:
        before = dict(flags)
        routes = [a for a in step.actions if isinstance(a, RouteAction)]
        for action in routes:
            for key, value in action.set.items():
                flags[(action.route, key)] = value
        undone = dict(flags)
        for undo in step.rollback:
            if isinstance(undo, RouteAction):
                for key, value in undo.set.items():
                    undone[(undo.route, key)] = value
        switches = [
            a for a in step.actions if isinstance(a, SyncAction) and a.direction != "retired"
        ]
        if len(switches) > 1:
            problems.append(f"step {step.id!r}: at most one sync switch per step")
        for sync_switch in switches:
            mirror = {(a.sync, a.direction) for a in step.rollback if isinstance(a, SyncAction)}
            opposite = "forward" if sync_switch.direction == "reverse" else "reverse"
            if (sync_switch.sync, opposite) not in mirror:
                problems.append(
                    f"step {step.id!r}: rollback must switch {sync_switch.sync} back to {opposite}"
                )
        for route_action in routes:
            for key in route_action.set:
                flag = (route_action.route, key)
                if flag in before and undone[flag] != before[flag]:
                    problems.append(
                        f"step {step.id!r}: rollback leaves {route_action.route}.{key}="
                        f"{undone[flag]!r}, the previous step left {before[flag]!r}"
                    )
    return problems


def _irreversible_problems(plan: Plan) -> list[str]:
    """An irreversible step is the last, says what cannot be undone, and has no rollback; a
    phase's steps are consecutive (status counts them as one stretch of the walk)."""
    problems = []
    for number, step in enumerate(plan.steps):
        if step.irreversible:
            if number != len(plan.steps) - 1:
                problems.append(f"step {step.id!r}: an irreversible step must be the last")
            if not step.cannot_undo:
                problems.append(f"step {step.id!r}: an irreversible step lists cannot_undo")
            if step.rollback:
                problems.append(f"step {step.id!r}: an irreversible step has no rollback")
        elif step.cannot_undo:
            problems.append(f"step {step.id!r}: cannot_undo is for irreversible steps")
    seen: list[str] = []
    for step in plan.steps:
        if seen and step.phase != seen[-1] and step.phase in seen:
            problems.append(f"step {step.id!r}: phase {step.phase!r} is split by another phase")
        if not seen or step.phase != seen[-1]:
            seen.append(step.phase)
    return problems


def _retirement_problems(plan: Plan) -> list[str]:
    """A capability is retired only by an irreversible step, once, after a step switched it to
    ``reverse`` (and none switched it back): the owners refuse anything else, so the loader
    says so before a walk gets there."""
    problems = []
    direction: dict[str, str] = {}
    for step in plan.steps:
        for action in step.actions:
            if not isinstance(action, SyncAction):
                continue
            if action.direction == "retired":
                if not step.irreversible:
                    problems.append(
                        f"step {step.id!r}: retiring {action.sync} cannot be undone, so only an "
                        "irreversible step may do it"
                    )
                if direction.get(action.sync) != "reverse":
                    problems.append(
                        f"step {step.id!r}: {action.sync} can be retired only once an earlier "
                        f"step switched it to reverse (it is "
                        f"{direction.get(action.sync, 'forward')} there)"
                    )
            direction[action.sync] = action.direction
        for undo in step.rollback:
            if isinstance(undo, SyncAction) and undo.direction == "retired":
                problems.append(f"step {step.id!r}: a rollback cannot retire {undo.sync}")
    return problems


def load_plan(path: Path | None = None) -> Plan:
    path = Path(path) if path is not None else DEFAULT_PLAN
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise PlanError(f"{path}: cannot read plan: {err.strerror or err}") from err
    except UnicodeDecodeError as err:
        raise PlanError(f"{path}: cannot read plan: not UTF-8 text") from err
    try:
        data = YAML(typ="safe").load(text)
    except YAMLError as err:
        raise PlanError(f"{path}: not valid YAML: {' '.join(str(err).split())}") from err
    if not isinstance(data, dict):
        raise PlanError(f"{path}: expected a mapping with 'name', 'title' and 'steps'")
    try:
        plan = Plan.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(validation_problems(err, root="plan"))
        raise PlanError(f"{path}: invalid plan: {problems}") from err
    missing = [step.page for step in plan.steps if not (path.parent / step.page).is_file()]
    if missing:
        raise PlanError(f"{path}: invalid plan: missing step page(s): {', '.join(missing)}")
    undo_problems = rollback_problems(plan)
    if undo_problems:
        raise PlanError(f"{path}: invalid plan: {'; '.join(undo_problems)}")
    return plan


def page_text(plan_file: Path | None, step: Step) -> str:
    base = (Path(plan_file) if plan_file is not None else DEFAULT_PLAN).parent
    try:
        return (base / step.page).read_text(encoding="utf-8")
    except OSError as err:
        raise PlanError(f"{base / step.page}: cannot read step page: {err.strerror}") from err

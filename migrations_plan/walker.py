"""The plan walker behind `strangler plan`: where the walk stands, and moving it a step.

* ``next`` checks the *current* step's gates; all pass → the next step's route actions are
  applied (one validated, atomic write of the route file through ``proxy.config_edit``) and the
  move is recorded; any fail → nothing changes and the failing gates are returned.
* ``rollback`` applies the current step's rollback flags and steps back one.
* ``reset`` rolls back every step taken (or, with ``keep_flags``, only forgets the walk).

A ``sync`` action switches the direction of a capability's writes with a drain
(``sync.control.direction.switch``); the step's route changes are applied inside the switch,
once the new source takes writes. A drain that times out changes nothing (the step is not
entered, or not left), like a failing gate.

Running the backfill is deliberately *not* an action: it is long, it belongs to the sync
component (`strangler sync backfill`), and it cannot be undone by a rollback. The plan lists it
as an instruction for the attendee and checks it with a ``backfill_done`` gate, so actions stay
instant, idempotent flag changes and every step's rollback is exact.

Every command holds ``plan-state.json.lock`` for its whole read-decide-write, so two walkers never
both advance.

While a walk is in progress the walker owns the route flags it has set (``owned_flags`` in the
state: what it last wrote). ``status`` shows where the route file differs from them (someone
edited it by hand, or another tool did), and ``next`` refuses to move on such a table unless told
to ``adopt`` it (the hand edit becomes what the walk owns) or ``overwrite`` it (the walk's flags
are written back, one audited write) first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import httpx

from migrations_plan.gates import (
    Endpoints,
    GateResult,
    evaluate_gates,
    step_traffic,
    take_baseline,
)
from migrations_plan.model import Action, Plan, PlanError, RouteAction, Step, SyncAction, load_plan
from migrations_plan.settings import WalkerSettings
from migrations_plan.state import (
    HistoryEntry,
    PlanState,
    StepRecord,
    load_state,
    save_state,
    state_lock,
)
from proxy.admin_client import await_loaded
from proxy.config import ConfigError
from proxy.config_edit import RouteChange, route_flags, update_routes
from sync.control.direction import Owners, SwitchError, directions, switch

#: What ``next`` does with a route table that differs from the flags the walk set.
OnDrift = Literal["refuse", "adopt", "overwrite"]


@dataclass(frozen=True)
class FlagDrift:
    """One flag the walk set that the route file no longer holds (``actual`` None and
    ``missing`` True: the route itself is gone)."""

    route: str
    key: str
    expected: Any
    actual: Any
    missing: bool = False

    def describe(self) -> str:
        if self.missing:
            return (
                f"route {self.route!r} is gone (the walk set its {self.key} to {self.expected!r})"
            )
        return f"{self.route}.{self.key} is {self.actual!r}, the walk set {self.expected!r}"


@dataclass(frozen=True)
class StepView:
    number: int
    step: Step
    status: str  # "done" | "current" | "pending"
    record: StepRecord | None


@dataclass(frozen=True)
class Status:
    plan: Plan
    state: PlanState
    steps: list[StepView]
    current: StepView | None
    next_step: Step | None
    gates: list[GateResult]
    drift: list[FlagDrift] = field(default_factory=list)


@dataclass(frozen=True)
class Outcome:
    """What a command did: ``moved`` False means nothing changed (see ``message``)."""

    moved: bool
    message: str
    from_step: Step | None = None
    to_step: Step | None = None
    gates: list[GateResult] = field(default_factory=list)
    changes: list[RouteChange] = field(default_factory=list)
    drift: list[FlagDrift] = field(default_factory=list)
    #: The direction switches it ran, in order.
    switches: list[SyncAction] = field(default_factory=list)

    @property
    def failed_gates(self) -> list[GateResult]:
        return [g for g in self.gates if not g.passed]


def _now() -> datetime:
    return datetime.now(UTC)


class Walker:
    def __init__(
        self,
        settings: WalkerSettings,
        *,
        plan: Plan | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.settings = settings
        self.plan = plan if plan is not None else load_plan(settings.plan_file)
        self.clock = clock

    # --- reading -------------------------------------------------------------------------

    def state(self) -> PlanState:
        return load_state(self.settings.state_file, self.plan)

    def status(self, *, check_gates: bool = True) -> Status:
        state = self.state()
        index = state.current_index(self.plan)
        views = []
        for number, step in enumerate(self.plan.steps):
            if index is not None and number < index:
                status = "done"
            elif index is not None and number == index:
                status = "current"
            else:
                status = "pending"
            views.append(StepView(number + 1, step, status, state.steps.get(step.id)))
        current = views[index] if index is not None else None
        gates: list[GateResult] = []
        if current is not None and check_gates:
            gates = self._gates(current.step, state)
        upcoming = index + 1 if index is not None else 0
        next_step = self.plan.steps[upcoming] if upcoming < len(self.plan.steps) else None
        return Status(self.plan, state, views, current, next_step, gates, self.drift(state))

    def drift(self, state: PlanState) -> list[FlagDrift]:
        """Where the route file differs from the flags the walk set (empty before a walk)."""
        if not state.owned_flags:
            return []
        try:
            actual = route_flags(self.settings.routes_file, state.owned_flags)
        except ConfigError as err:
            raise PlanError(f"cannot compare the route file with the walk: {err}") from err
        drift = []
        for route, expected in sorted(state.owned_flags.items()):
            now = actual.get(route)
            for key, value in sorted(expected.items()):
                if now is None:
                    drift.append(FlagDrift(route, key, value, None, missing=True))
                elif now.get(key) != value:
                    drift.append(FlagDrift(route, key, value, now.get(key)))
        return drift

    def verify(self) -> Outcome:
        """The current step's gates, evaluated now; changes nothing."""
        state = self.state()
        index = state.current_index(self.plan)
        if index is None:
            return Outcome(False, "the walk has not started: no gates to check yet")
        step = self.plan.steps[index]
        gates = self._gates(step, state)
        passed = all(g.passed for g in gates)
        verdict = "all gates pass" if passed else "some gates fail"
        return Outcome(passed, f"{step.id}: {verdict}", from_step=step, gates=gates)

    # --- moving --------------------------------------------------------------------------

    def next(self, *, actor: str, on_drift: OnDrift = "refuse", confirm: bool = False) -> Outcome:
        with state_lock(self.settings.state_file):
            state = self.state()
            index = state.current_index(self.plan)
            current = self.plan.steps[index] if index is not None else None
            drift = self.drift(state)
            if drift:
                if on_drift == "refuse":
                    return Outcome(
                        False,
                        "the route table differs from the flags the walk set: "
                        + "; ".join(d.describe() for d in drift)
                        + ". Pass --adopt to keep the table as it is, or --overwrite to write "
                        "the walk's flags back",
                        from_step=current,
                        drift=drift,
                    )
                state = self._settle_drift(state, drift, on_drift, actor=actor, current=current)
            gates: list[GateResult] = []
            if current is not None:
                assert index is not None
                if index + 1 >= len(self.plan.steps):
                    return Outcome(False, "the plan is complete: no step after the last one")
                gates = self._gates(current, state)
                if not all(g.passed for g in gates):
                    return Outcome(
                        False,
                        f"{current.id}: gates fail, staying on this step",
                        from_step=current,
                        gates=gates,
                    )
            target = self.plan.steps[0 if index is None else index + 1]
            if target.irreversible and not confirm:
                return Outcome(
                    False,
                    f"{target.id} cannot be undone: "
                    + "; ".join(target.cannot_undo)
                    + ". The gates pass; pass --confirm to take it",
                    from_step=current,
                    to_step=target,
                    gates=gates,
                )
            changes = self._apply(target.actions, actor=actor, what=f"step {target.id!r}")
            now = self.clock()
            steps = dict(state.steps)
            if current is not None:
                steps[current.id] = steps[current.id].model_copy(update={"completed_at": now})
            traffic = self._traffic(current, state) if current is not None else {}
            steps[target.id] = StepRecord(started_at=now, baseline=self._baseline(target))
            state = _owning(state, changes)
            self._save(
                state, target.id, steps, "next", actor, current, target, now,
                changes=changes, gates=gates, traffic=traffic,
            )  # fmt: skip
            return Outcome(
                True, f"now at {target.id}", current, target, gates, changes, drift,
                switches=_switches(target.actions),
            )  # fmt: skip

    def rollback(self, *, actor: str) -> Outcome:
        with state_lock(self.settings.state_file):
            state = self.state()
            index = state.current_index(self.plan)
            if index is None:
                raise PlanError("nothing to roll back: the walk has not started")
            current = self.plan.steps[index]
            if current.irreversible:
                raise PlanError(
                    f"{current.id} cannot be rolled back: " + "; ".join(current.cannot_undo)
                )
            changes = self._apply(current.rollback, actor=actor, what=f"rollback of {current.id!r}")
            now = self.clock()
            steps = dict(state.steps)
            steps.pop(current.id, None)
            previous = self.plan.steps[index - 1] if index > 0 else None
            if previous is not None:
                # Re-entered: its gates count again from now.
                steps[previous.id] = StepRecord(started_at=now, baseline=self._baseline(previous))
                state = _owning(state, changes)
            else:  # back before the first step: no walk in progress, nothing owned
                state = state.model_copy(update={"owned_flags": {}})
            self._save(
                state, previous.id if previous else None, steps, "rollback", actor, current,
                previous, now, changes=changes,
            )  # fmt: skip
            where = f"back at {previous.id}" if previous else "back before the first step"
            return Outcome(
                True, f"rolled back {current.id}: {where}", current, previous, [], changes,
                switches=_switches(current.rollback),
            )  # fmt: skip

    def reset(self, *, actor: str, keep_flags: bool = False) -> Outcome:
        """Undo every step taken (newest first, in one route-file write) and forget the walk.

        An unreadable state file is removed (that is how one recovers from it); the flags are
        then left as they are, since nobody knows which steps were taken.
        """
        path = self.settings.state_file
        with state_lock(path):
            try:
                state = self.state()
            except PlanError as err:
                path.unlink(missing_ok=True)
                return Outcome(True, f"removed an unreadable plan state ({err}); flags untouched")
            index = state.current_index(self.plan)
            changes: list[RouteChange] = []
            if index is not None and self.plan.steps[index].irreversible and not keep_flags:
                raise PlanError(
                    f"{self.plan.steps[index].id} cannot be undone, so the walk cannot be reset "
                    "to the monolith; 'strangler plan reset --keep-flags' only forgets the walk"
                )
            if index is not None and not keep_flags:
                undo = [a for step in reversed(self.plan.steps[: index + 1]) for a in step.rollback]
                changes = self._apply(undo, actor=actor, what="reset")
            path.unlink(missing_ok=True)
            taken = "nothing was taken" if index is None else f"{index + 1} step(s) undone"
            if keep_flags and index is not None:
                taken = "route flags kept as they are"
            return Outcome(True, f"plan reset: {taken}", changes=changes)

    # --- helpers -------------------------------------------------------------------------

    def _settle_drift(
        self,
        state: PlanState,
        drift: list[FlagDrift],
        how: OnDrift,
        *,
        actor: str,
        current: Step | None,
    ) -> PlanState:
        """Adopt the route file's values as the walk's, or write the walk's back; recorded in
        the history either way, before the gates are read."""
        owned = {route: dict(flags) for route, flags in state.owned_flags.items()}
        if how == "overwrite":
            wanted = [
                RouteAction(route=d.route, set={d.key: d.expected}) for d in drift if not d.missing
            ]
            if len(wanted) < len(drift):
                gone = sorted({d.route for d in drift if d.missing})
                raise PlanError(
                    f"cannot overwrite: route(s) {', '.join(gone)} are no longer in the file"
                )
            changes = self._apply_routes(wanted, actor=actor, what="overwrite")
        else:
            changes = []
            for d in drift:
                if d.missing:
                    owned.pop(d.route, None)
                else:
                    owned[d.route][d.key] = d.actual
        updated = state.model_copy(update={"owned_flags": owned})
        now = self.clock()
        return self._save(
            updated, state.current, dict(state.steps), how, actor, current, current, now,
            changes=changes,
        )  # fmt: skip

    def _gates(self, step: Step, state: PlanState) -> list[GateResult]:
        record = state.steps.get(step.id)
        started_at = record.started_at if record else self.clock()
        with Endpoints(self.settings) as endpoints:
            return evaluate_gates(
                step,
                endpoints,
                started_at=started_at,
                baseline=record.baseline if record else None,
                now=self.clock(),
            )

    def _traffic(self, step: Step, state: PlanState) -> dict[str, dict[str, int]] | None:
        record = state.steps.get(step.id)
        with Endpoints(self.settings) as endpoints:
            return step_traffic(endpoints, step, record.baseline if record else None)

    def _baseline(self, step: Step) -> dict[str, Any] | None:
        with Endpoints(self.settings) as endpoints:
            return take_baseline(endpoints, step)

    def _apply(self, actions: Iterable[Action], *, actor: str, what: str) -> list[RouteChange]:
        """The route flags in one validated, atomic write; with a direction switch, that write
        happens inside the switch (after the drain, once the new source takes writes)."""
        actions = list(actions)
        routes = [a for a in actions if isinstance(a, RouteAction)]
        switches = [a for a in actions if isinstance(a, SyncAction)]
        if not switches:
            return self._apply_routes(routes, actor=actor, what=what)
        changes: list[RouteChange] = []

        def move_route() -> None:
            changes.extend(self._apply_routes(routes, actor=actor, what=what))

        self._refuse_moving_a_retired_capability(switches, what=what)
        for number, action in enumerate(switches):
            last = number == len(switches) - 1
            try:
                switch(
                    self._owners(action),
                    action.direction,
                    move_route=move_route if last else lambda: None,
                    drain_timeout_s=action.drain_timeout_s,
                )
            except SwitchError as err:
                raise PlanError(f"{what}: {err}") from None
        return changes

    def _refuse_moving_a_retired_capability(self, switches: list[SyncAction], *, what: str) -> None:
        """Before any switch of several runs (a reset undoes every step's): none of them may
        move a retired capability, which its owners would refuse only once the switches before
        it had run, leaving the others half-moved."""
        moving = [a for a in switches if a.direction != "retired"]
        if len(switches) < 2 or not moving:
            return
        with httpx.Client() as http:
            for action in moving:
                try:
                    found = directions(http, self._owners(action))
                except SwitchError as err:
                    raise PlanError(f"{what}: {err}") from None
                if "retired" in found:
                    raise PlanError(
                        f"{what}: {action.sync} is retired (the cord is cut): it never moves to "
                        f"{action.direction} again; nothing changed"
                    )

    def _owners(self, action: SyncAction) -> Owners:
        return Owners(
            action.sync, self.settings.monolith_url, self.settings.service_url(action.sync)
        )

    def _apply_routes(
        self, actions: Iterable[RouteAction], *, actor: str, what: str
    ) -> list[RouteChange]:
        """All the flags in one validated, atomic write (later actions win on the same flag)."""
        merged: dict[str, dict[str, Any]] = {}
        for action in actions:
            merged.setdefault(action.route, {}).update(action.set)
        if not merged:
            return []
        routes_file = self.settings.routes_file
        try:
            changes = update_routes(routes_file, merged, actor=actor)
        except KeyError as err:
            raise PlanError(
                f"{what}: route {err.args[0]!r} is not in {routes_file}; nothing changed"
            ) from None
        except ConfigError as err:
            detail = " | ".join(str(err).splitlines())
            raise PlanError(f"{what}: the route file refused the change: {detail}") from err
        if changes:
            # The step starts when the proxy serves its flags: counters read for the step's
            # baseline right after this must not include traffic routed by the old table.
            await_loaded(
                self.settings.proxy_admin_url,
                self.settings.token(),
                routes_file,
                changes[-1].digest,
            )
        return changes

    def _save(
        self,
        state: PlanState,
        current: str | None,
        steps: dict[str, StepRecord],
        command: str,
        actor: str,
        from_step: Step | None,
        to_step: Step | None,
        now: datetime,
        *,
        changes: Iterable[RouteChange] = (),
        gates: Iterable[GateResult] = (),
        traffic: dict[str, dict[str, int]] | None = None,
    ) -> PlanState:
        entry = HistoryEntry.model_validate(
            {
                "at": now,
                "command": command,
                "actor": actor,
                "from_step": from_step.id if from_step else None,
                "to_step": to_step.id if to_step else None,
                "changes": [c.as_dict() for c in changes if c.changed],
                "gates": [g.as_dict() for g in gates],
                "traffic": traffic,
            }
        )
        updated = state.model_copy(
            update={"current": current, "steps": steps, "history": [*state.history, entry]}
        )
        save_state(self.settings.state_file, updated)
        return updated


def _switches(actions: Iterable[Action]) -> list[SyncAction]:
    return [action for action in actions if isinstance(action, SyncAction)]


def _owning(state: PlanState, changes: Iterable[RouteChange]) -> PlanState:
    """``state`` owning the flags ``changes`` wrote, as they now stand."""
    owned = {route: dict(flags) for route, flags in state.owned_flags.items()}
    for change in changes:
        owned.setdefault(change.route, {}).update(change.after)
    return state.model_copy(update={"owned_flags": owned})

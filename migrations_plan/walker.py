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
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from migrations_plan.gates import Endpoints, GateResult, evaluate_gates, take_baseline
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
from proxy.config_edit import RouteChange, update_routes
from sync.control.direction import Owners, SwitchError, switch


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


@dataclass(frozen=True)
class Outcome:
    """What a command did: ``moved`` False means nothing changed (see ``message``)."""

    moved: bool
    message: str
    from_step: Step | None = None
    to_step: Step | None = None
    gates: list[GateResult] = field(default_factory=list)
    changes: list[RouteChange] = field(default_factory=list)

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
        return Status(self.plan, state, views, current, next_step, gates)

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

    def next(self, *, actor: str) -> Outcome:
        with state_lock(self.settings.state_file):
            state = self.state()
            index = state.current_index(self.plan)
            current = self.plan.steps[index] if index is not None else None
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
            changes = self._apply(target.actions, actor=actor, what=f"step {target.id!r}")
            now = self.clock()
            steps = dict(state.steps)
            if current is not None:
                steps[current.id] = steps[current.id].model_copy(update={"completed_at": now})
            steps[target.id] = StepRecord(started_at=now, baseline=self._baseline(target))
            self._save(state, target.id, steps, "next", actor, current, target, now)
            return Outcome(True, f"now at {target.id}", current, target, gates, changes)

    def rollback(self, *, actor: str) -> Outcome:
        with state_lock(self.settings.state_file):
            state = self.state()
            index = state.current_index(self.plan)
            if index is None:
                raise PlanError("nothing to roll back: the walk has not started")
            current = self.plan.steps[index]
            changes = self._apply(current.rollback, actor=actor, what=f"rollback of {current.id!r}")
            now = self.clock()
            steps = dict(state.steps)
            steps.pop(current.id, None)
            previous = self.plan.steps[index - 1] if index > 0 else None
            if previous is not None:
                # Re-entered: its gates count again from now.
                steps[previous.id] = StepRecord(started_at=now, baseline=self._baseline(previous))
            self._save(
                state, previous.id if previous else None, steps, "rollback", actor, current,
                previous, now,
            )  # fmt: skip
            where = f"back at {previous.id}" if previous else "back before the first step"
            return Outcome(
                True, f"rolled back {current.id}: {where}", current, previous, [], changes
            )

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
            if index is not None and not keep_flags:
                undo = [a for step in reversed(self.plan.steps[: index + 1]) for a in step.rollback]
                changes = self._apply(undo, actor=actor, what="reset")
            path.unlink(missing_ok=True)
            taken = "nothing was taken" if index is None else f"{index + 1} step(s) undone"
            if keep_flags and index is not None:
                taken = "route flags kept as they are"
            return Outcome(True, f"plan reset: {taken}", changes=changes)

    # --- helpers -------------------------------------------------------------------------

    def _gates(self, step: Step, state: PlanState) -> list[GateResult]:
        record = state.steps.get(step.id)
        started_at = record.started_at if record else self.clock()
        with Endpoints(self.settings) as endpoints:
            return evaluate_gates(
                step, endpoints, started_at=started_at, baseline=record.baseline if record else None
            )

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
    ) -> None:
        entry = HistoryEntry.model_validate(
            {
                "at": now,
                "command": command,
                "actor": actor,
                "from_step": from_step.id if from_step else None,
                "to_step": to_step.id if to_step else None,
            }
        )
        updated = state.model_copy(
            update={"current": current, "steps": steps, "history": [*state.history, entry]}
        )
        save_state(self.settings.state_file, updated)

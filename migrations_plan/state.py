"""Where the walk stands, in ``$STRANGLER_VAR_DIR/plan-state.json``: written atomically, read
strictly (a corrupted file is a one-line :class:`PlanError`, never a guess)."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from migrations_plan.model import Plan, PlanError
from proxy.atomic_file import write_atomically


class StepRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    started_at: datetime
    completed_at: datetime | None = None
    #: Proxy counters of the routes the step's gates watch, taken when it started (None when
    #: the admin API did not answer then): gates count from here.
    baseline: dict[str, Any] | None = None


class HistoryEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at: datetime
    command: Literal["next", "rollback", "reset", "adopt", "overwrite"]
    actor: str
    from_step: str | None
    to_step: str | None
    #: The route flags the command wrote (``RouteChange.as_dict``, before and after).
    changes: list[dict[str, Any]] = Field(default_factory=list)
    #: ``next``: the gates that let the walk leave ``from_step``, as measured then.
    gates: list[dict[str, Any]] = Field(default_factory=list)
    #: ``next``: the proxy's counters of the routes ``from_step`` watched, over its time
    #: (route -> requests, errors, compared, mismatched; None when the proxy did not answer).
    traffic: dict[str, dict[str, int]] | None = None


class PlanState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan: str
    #: The step whose actions were applied last (None: the walk has not started).
    current: str | None = None
    steps: dict[str, StepRecord] = Field(default_factory=dict)
    history: list[HistoryEntry] = Field(default_factory=list)
    #: The route flags the walk has set, as it last wrote them (route -> key -> value): the
    #: walker owns these while a walk is in progress, and a hand edit of one is drift.
    owned_flags: dict[str, dict[str, Any]] = Field(default_factory=dict)

    def current_index(self, plan: Plan) -> int | None:
        return None if self.current is None else plan.index(self.current)


def fresh_state(plan: Plan) -> PlanState:
    return PlanState(plan=plan.name)


def load_state(path: Path, plan: Plan) -> PlanState:
    """The saved state, or a fresh one when there is none; PlanError when it is unusable."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return fresh_state(plan)
    except (OSError, UnicodeDecodeError) as err:
        raise PlanError(f"{path}: cannot read plan state: {err}") from err
    try:
        state = PlanState.model_validate(json.loads(text))
    except (ValueError, ValidationError) as err:
        raise PlanError(
            f"{path}: plan state is corrupted ({_first_line(err)}); "
            "fix it or run 'strangler plan reset'"
        ) from err
    if state.plan != plan.name:
        raise PlanError(
            f"{path}: plan state belongs to plan {state.plan!r}, not {plan.name!r}; "
            "run 'strangler plan reset'"
        )
    unknown = sorted({state.current or plan.steps[0].id, *state.steps} - {s.id for s in plan.steps})
    if unknown:
        raise PlanError(
            f"{path}: plan state names step(s) the plan does not have: {', '.join(unknown)}; "
            "run 'strangler plan reset'"
        )
    return state


def save_state(path: Path, state: PlanState) -> None:
    """Temp file in the same folder, fsync, rename: the state is the old one or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, state.model_dump_json(indent=2) + "\n")


@contextmanager
def state_lock(path: Path) -> Iterator[None]:
    """Serialise walkers: two ``plan next`` at once must not both advance."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _first_line(err: Exception) -> str:
    if isinstance(err, ValidationError):
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "file"
        return f"{where}: {first['msg']}"
    return " ".join(str(err).split())

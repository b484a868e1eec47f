"""`strangler sync switch CAPABILITY reverse|forward|retired`: move a capability's writes between
the monolith and its service with a drain (``sync.control.direction.switch``,
docs/reverse-sync.md), outside a plan walk. ``retired`` cuts the capability's cord (reverse
sync stops, the monolith's tables of it freeze read-only for good): it cannot be undone, so it
needs ``--confirm`` and takes no ``--route``.

Each ``--route NAME`` is moved inside the switch, once the new source takes the writes
(``reverse``: ``mode: extracted``; ``forward``: ``mode: monolith``), in one validated, atomic
write of the route file, as the plan walker does. Exit status 0 switched (or already there), 1
refused or failed, with one line saying why; a refused or timed-out switch changes nothing.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, NoReturn

import typer
from pydantic import ValidationError

from contracts.events import Capability
from migrations_plan.settings import WalkerSettings
from proxy.admin_client import await_loaded
from proxy.config import ConfigError, load_route_table
from proxy.config_edit import update_routes
from strangler.console import stdout_console
from sync.control.direction import (
    DEFAULT_DRAIN_TIMEOUT_S,
    DEFAULT_SETTLE_S,
    Owners,
    SwitchError,
    switch,
)

out = stdout_console()

ACTOR = "strangler sync switch"
#: The mode each ``--route`` gets once the switch has given the writes to the new source.
ROUTE_MODE = {"reverse": "extracted", "forward": "monolith"}


class SwitchCapability(StrEnum):
    inventory = "inventory"
    payments = "payments"
    orders = "orders"


class Target(StrEnum):
    reverse = "reverse"
    forward = "forward"
    retired = "retired"


#: What ``retired`` cannot undo (said before ``--confirm``).
CANNOT_UNDO = (
    "the monolith stops receiving the service's writes and its tables of the capability refuse "
    "every write, for good; no switch moves it back"
)


def _fail(message: str) -> NoReturn:
    typer.echo(f"strangler sync switch: {' '.join(message.split())}", err=True)
    raise typer.Exit(1)


def switch_command(
    capability: Annotated[SwitchCapability, typer.Argument(help="Whose writes to move.")],
    direction: Annotated[
        Target,
        typer.Argument(
            help="reverse: the service takes the writes; forward: the monolith; retired: cut "
            "the cord (irreversible, needs --confirm)."
        ),
    ],
    route: Annotated[
        list[str] | None,
        typer.Option(
            "--route",
            metavar="NAME",
            help="A write route to move inside the switch (repeatable): mode extracted for "
            "reverse, monolith for forward.",
        ),
    ] = None,
    drain_timeout_s: Annotated[
        float,
        typer.Option(min=0.1, max=3600, help="How long the drain may take before nothing changes."),
    ] = DEFAULT_DRAIN_TIMEOUT_S,
    settle_s: Annotated[
        float,
        typer.Option(
            min=0,
            max=60,
            help="Going forward: how long the service stays frozen after the route moved, for "
            "writes already on their way to it.",
        ),
    ] = DEFAULT_SETTLE_S,
    confirm: Annotated[
        bool, typer.Option("--confirm", help="Take an irreversible switch (retired).")
    ] = False,
) -> None:
    """Switch which owner takes CAPABILITY's writes, with a drain (freeze, drain, new source,
    --route moved, old owner read-only); refused, with one line, when the capabilities that
    call each other could not follow (docs/reverse-sync.md)."""
    if direction is Target.retired:
        if route:
            _fail("retired takes no --route: the write routes already name the service")
        if not confirm:
            _fail(f"retiring {capability.value} cannot be undone: {CANNOT_UNDO}. Pass --confirm")
    try:
        settings = WalkerSettings()
    except ValidationError as exc:
        problem = exc.errors()[0]
        _fail(f"bad setting {'.'.join(map(str, problem['loc']))}: {problem['msg']}")
    name: Capability = capability.value
    owners = Owners(name, settings.monolith_url, settings.service_url(name))
    routes = route or []
    if routes:
        # Checked before the freeze: an unknown name found inside the switch would undo a drain.
        try:
            known = {r.name for r in load_route_table(settings.routes_file).routes}
        except ConfigError as err:
            _fail(str(err))
        unknown = [r for r in routes if r not in known]
        if unknown:
            names = ", ".join(repr(r) for r in unknown)
            _fail(f"no route named {names} in {settings.routes_file}")

    def move_route() -> None:
        if not routes:
            return
        mode = ROUTE_MODE[direction.value]
        try:
            changes = update_routes(
                settings.routes_file, {r: {"mode": mode} for r in routes}, actor=ACTOR
            )
        except KeyError as err:
            raise SwitchError(f"route {err.args[0]!r} is not in {settings.routes_file}") from None
        except ConfigError as err:
            raise SwitchError(f"the route file refused the change: {err}") from err
        if changes:
            await_loaded(
                settings.proxy_admin_url, settings.token(), settings.routes_file, changes[-1].digest
            )

    try:
        report = switch(
            owners,
            direction.value,
            move_route=move_route,
            drain_timeout_s=drain_timeout_s,
            settle_s=settle_s,
        )
    except SwitchError as err:
        _fail(str(err))
    for step in report.steps:
        out.print(step)

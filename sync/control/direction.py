"""The direction switch of one capability, with a drain (Vitess ``SwitchWrites``-style).

Both owners keep their own direction (contracts.direction) and are moved over their internal,
token-protected HTTP (the sync token, ``sync.control.internal_auth``: sent with every ``PUT`` and
``POST``); nothing here touches a database.

Forward → reverse (the service becomes the source of the capability's writes):

1. **freeze** the monolith: its writes of the capability answer 503 + ``Retry-After`` (the
   freeze waits for the writes in flight to commit, so the outbox then holds every event);
2. **drain** the forward flow: nothing pending in the monolith's outbox for the capability, and
   the service has processed the newest events the relay sent (``/internal/sync/processed``). On
   timeout the monolith is unfrozen and nothing else has changed;
3. the **service becomes the source**: its writes are recorded to be sent (the service relay
   sends them to the monolith); what it wrote before is never sent;
4. ``move_route`` (the proxy's write route to ``extracted``: the caller's);
5. the monolith stays **read-only** (``reverse``) and applies the service's events.

Reverse → forward is the mirror: freeze the service, drain the reverse flow into the monolith
(the service's pending events, and its writes still in flight: the orders saga's), the monolith
takes writes again, ``move_route`` back, and after a settle period (``DEFAULT_SETTLE_S``, for the
writes already on their way to the service) the service goes back to ``forward``. Clients see at
most a window of 503s between 1 and 4, never a lost write: every write that was answered 2xx is
in the outbox of the owner that took it, and that outbox is drained (or keeps flowing) before the
other owner takes writes.

Reverse → retired (cutting the cord, the plan's last step; one way, ``contracts.direction``):

1. **stop the flow**: the service goes ``retired``: it keeps taking the writes, and every event
   it records from then on is born ``skipped`` (never sent); the change waits for its writes in
   flight, so the cut is exact;
2. **drain** what it recorded before the cut into the monolith (nothing pending in the service's
   outbox, the monolith has processed the newest events sent; sagas still in flight are not
   waited for: what they write now is after the cut);
3. **freeze** the monolith: ``retired``, its capability tables read-only for good (its API
   answers writes 503, its database refuses them) and its inbox ignores the capability.

There is no way back, so nothing is undone on a timeout: the service stays ``retired`` (the
flow is stopped) and the monolith ``reverse`` (read-only already, applying the rest), and the
same call finishes it. Both owners refuse to leave ``retired`` (409).

Before anything changes, a caller whose calls could not follow the switches is refused
(``CALLERS``: the orders service becomes the source of its writes only while its saga reserves
and pays through the façade, whose route table the switches move; docs/reverse-sync.md, "Which
directions go together").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Literal

import httpx
from pydantic import ValidationError

from contracts.direction import (
    TAIL_LIMIT_MAX,
    Direction,
    DirectionView,
    OutboxTail,
    ProcessedAnswer,
    WriteUpstreams,
)
from sync.control.internal_auth import MissingSyncToken, refusal_hint, sync_headers

Target = Literal["forward", "reverse", "retired"]
TIMEOUT_S: Final = 10.0
DEFAULT_DRAIN_TIMEOUT_S: Final = 60.0
#: On the way back, how long the service stays frozen after the write route moved, before it
#: goes ``forward`` (where it takes writes again, but never sends them): a write already on its
#: way to the service when the route moved (queued in its server) is refused with a 503 meanwhile
#: and retried by its client through the route, instead of being taken as a write of no source.
DEFAULT_SETTLE_S: Final = 1.0
#: A service whose writes call other capabilities' owners (its ``GET /internal/sync/upstreams``):
#: the orders saga reserves in inventory and pays in payments. It calls them through the façade
#: (``STRANGLER_FACADE_URL``), whose write routes the switches of inventory and payments move,
#: so those switch in any order and at any time. The one rule left: the caller becomes the source
#: of its own writes only while each of those URLs is the façade, or (an override, a mesh) the
#: owner that takes that capability's writes now.
CALLERS: Final[dict[str, tuple[str, ...]]] = {"orders": ("inventory", "payments")}


class SwitchError(RuntimeError):
    """The switch could not run or finish; ``str(err)`` is one line. Raised only after every
    change it made was undone (unless it says otherwise)."""


class DrainTimeout(SwitchError):
    pass


@dataclass(frozen=True)
class Owners:
    """Where the capability's two owners answer."""

    capability: str
    monolith_url: str
    service_url: str

    def monolith_direction_url(self) -> str:
        return f"{self.monolith_url.rstrip('/')}/internal/sync/direction/{self.capability}"

    def service_direction_url(self) -> str:
        return f"{self.service_url.rstrip('/')}/internal/sync/direction"


@dataclass
class SwitchReport:
    capability: str
    target: Target
    changed: bool
    #: What happened, in order, one line each (the CLI and the walker print it).
    steps: list[str] = field(default_factory=list)


def _json(response: httpx.Response, what: str) -> object:
    hint = refusal_hint(response.status_code)
    if hint is not None:
        raise SwitchError(f"{what} answered {response.status_code}: {hint}")
    if response.status_code != 200:
        try:
            detail = response.json().get("detail", "")
        except (ValueError, AttributeError):
            detail = response.text[:200]
        raise SwitchError(f"{what} answered {response.status_code}: {detail}")
    try:
        return response.json()
    except ValueError:
        raise SwitchError(f"{what} did not answer JSON") from None


def _call(client: httpx.Client, method: str, url: str, what: str, **kwargs: object) -> object:
    try:
        response = client.request(method, url, timeout=TIMEOUT_S, **kwargs)  # type: ignore[arg-type]
    except httpx.HTTPError as err:
        raise SwitchError(f"{what} at {url} is unreachable: {err or type(err).__name__}") from err
    return _json(response, f"{what} at {url}")


def read_direction(client: httpx.Client, url: str, what: str) -> Direction:
    try:
        return DirectionView.model_validate(_call(client, "GET", url, what)).direction
    except ValidationError:
        raise SwitchError(f"{what} at {url} answered an unexpected shape") from None


def _auth() -> dict[str, str]:
    """The sync token's header; a ``SwitchError`` saying how to set it when there is none."""
    try:
        return sync_headers()
    except MissingSyncToken as err:
        raise SwitchError(str(err)) from None


def write_direction(client: httpx.Client, url: str, what: str, direction: Direction) -> None:
    _call(client, "PUT", url, what, json={"direction": direction}, headers=_auth())


def _tail(client: httpx.Client, url: str, what: str) -> OutboxTail:
    try:
        return OutboxTail.model_validate(_call(client, "GET", url, what))
    except ValidationError:
        raise SwitchError(f"{what} at {url} answered an unexpected shape") from None


def _missing(client: httpx.Client, url: str, what: str, tail: OutboxTail) -> int:
    if not tail.recent_event_ids:
        return 0
    body = {"event_ids": [str(i) for i in tail.recent_event_ids]}
    try:
        answer = ProcessedAnswer.model_validate(
            _call(client, "POST", url, what, json=body, headers=_auth())
        )
    except ValidationError:
        raise SwitchError(f"{what} at {url} answered an unexpected shape") from None
    return len(answer.missing)


def forward_backlog(client: httpx.Client, owners: Owners) -> str | None:
    """Why the forward flow is not drained yet (None: drained)."""
    monolith = owners.monolith_url.rstrip("/")
    tail = _tail(
        client,
        f"{monolith}/internal/outbox/tail?capability={owners.capability}&limit={TAIL_LIMIT_MAX}",
        "the monolith",
    )
    if tail.in_flight:
        return f"{tail.in_flight} write(s) still in flight on the monolith (order steps not ended)"
    if tail.pending:
        return f"{tail.pending} event(s) pending in the monolith's outbox"
    url = f"{owners.service_url.rstrip('/')}/internal/sync/processed"
    missing = _missing(client, url, "the service", tail)
    return f"the service has not applied {missing} sent event(s)" if missing else None


def reverse_tail(client: httpx.Client, owners: Owners) -> OutboxTail:
    """The service's own outbox as the reverse drain reads it (also `strangler sync status`)."""
    url = f"{owners.service_url.rstrip('/')}/internal/sync/outbox?limit={TAIL_LIMIT_MAX}"
    return _tail(client, url, "the service")


def reverse_backlog(client: httpx.Client, owners: Owners, *, in_flight: bool = True) -> str | None:
    """Why the reverse flow is not drained yet (None: drained); ``in_flight`` False: writes
    still in flight on the service are not waited for (retiring: they write after the cut)."""
    tail = reverse_tail(client, owners)
    if in_flight and tail.in_flight:
        return f"{tail.in_flight} write(s) still in flight on the service (sagas not ended)"
    if tail.pending:
        return f"{tail.pending} event(s) pending in the service's outbox"
    url = f"{owners.monolith_url.rstrip('/')}/internal/sync/processed"
    missing = _missing(client, url, "the monolith", tail)
    return f"the monolith has not applied {missing} sent event(s)" if missing else None


def _await_drained(check: Callable[[], str | None], *, timeout_s: float, poll_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        reason = check()
        if reason is None:
            return
        if time.monotonic() >= deadline:
            raise DrainTimeout(f"not drained after {timeout_s:g} s: {reason}")
        time.sleep(poll_s)  # polling a condition with a deadline, not a fixed wait


def _follows_writes(client: httpx.Client, base_url: str, capability: str) -> bool:
    """Whether calls to ``base_url`` reach whoever takes ``capability``'s writes: the façade
    (the proxy answers ``/internal/`` itself, with ``X-Strangler-Upstream: -``: its write route
    follows the switch), the monolith while ``forward``, the capability's service while
    ``reverse``. Anything else is a ``SwitchError``."""
    base = base_url.rstrip("/")
    try:
        answer = client.get(f"{base}/internal/sync/direction/{capability}", timeout=TIMEOUT_S)
        if answer.headers.get("X-Strangler-Upstream") == "-":
            return True
        if answer.status_code == 200:
            return DirectionView.model_validate(answer.json()).direction == "forward"
        answer = client.get(f"{base}/internal/sync/direction", timeout=TIMEOUT_S)
        if answer.status_code == 200:
            view = DirectionView.model_validate(answer.json())
            if view.capability == capability:
                return view.direction in ("reverse", "retired")
    except (httpx.HTTPError, ValueError) as err:
        raise SwitchError(f"{base} is unreachable or answered no direction: {err}") from err
    raise SwitchError(f"{base} is neither the façade, the monolith nor the {capability} service")


def _refuse_what_cannot_follow(client: httpx.Client, owners: Owners, target: Target) -> None:
    """``CALLERS``'s rule, before anything changes; a ``SwitchError`` (one line) if broken."""
    capability = owners.capability
    if target != "reverse" or capability not in CALLERS:
        return
    url = f"{owners.service_url.rstrip('/')}/internal/sync/upstreams"
    try:
        upstreams = WriteUpstreams.model_validate(_call(client, "GET", url, "the service"))
    except ValidationError:
        raise SwitchError(f"the service at {url} answered an unexpected shape") from None
    for called in CALLERS[capability]:
        where = upstreams.upstreams.get(called)
        if where is None:
            raise SwitchError(
                f"cannot switch {capability} to reverse: where it calls {called} is not known"
            )
        if not _follows_writes(client, where, called):
            setting = f"{capability.upper()}_{called.upper()}_URL"
            raise SwitchError(
                f"cannot switch {capability} to reverse: its saga calls {called} at {where} "
                f"({setting}), which does not take the {called} writes; unset {setting} so that "
                f"it calls through the façade (STRANGLER_FACADE_URL) and restart the "
                f"{capability} service"
            )


def directions(client: httpx.Client, owners: Owners) -> tuple[Direction, Direction]:
    """(the monolith's, the service's) direction of the capability."""
    return (
        read_direction(client, owners.monolith_direction_url(), "the monolith"),
        read_direction(client, owners.service_direction_url(), "the service"),
    )


def switch(
    owners: Owners,
    target: Target,
    *,
    move_route: Callable[[], None] = lambda: None,
    drain_timeout_s: float = DEFAULT_DRAIN_TIMEOUT_S,
    poll_s: float = 0.1,
    settle_s: float = DEFAULT_SETTLE_S,
    sleep: Callable[[float], None] = time.sleep,
    client: httpx.Client | None = None,
) -> SwitchReport:
    """Move the capability's writes to ``target``'s source, or retire it (module docstring).
    Idempotent: a capability already there is left alone (``move_route`` still runs, so the
    route follows). ``settle_s``: see ``DEFAULT_SETTLE_S`` (the way back only), spent in
    ``sleep``. Without a sync token it is refused before any owner is asked anything."""
    _auth()
    with httpx.Client() if client is None else _borrowed(client) as http:
        if target == "retired":
            return _retire(http, owners, move_route, drain_timeout_s, poll_s)
        settle = lambda: sleep(settle_s)  # noqa: E731
        return _switch(http, owners, target, move_route, drain_timeout_s, poll_s, settle)


class _borrowed:
    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def __enter__(self) -> httpx.Client:
        return self.client

    def __exit__(self, *exc: object) -> None:
        return None


def _switch(
    http: httpx.Client,
    owners: Owners,
    target: Target,
    move_route: Callable[[], None],
    drain_timeout_s: float,
    poll_s: float,
    settle: Callable[[], None],
) -> SwitchReport:
    report = SwitchReport(owners.capability, target, changed=False)
    monolith, service = directions(http, owners)
    m_url, s_url = owners.monolith_direction_url(), owners.service_direction_url()
    if (monolith, service) == (target, target):
        move_route()
        report.steps.append(f"{owners.capability} is already {target}: nothing to switch")
        return report
    # A switch interrupted after the drain (the new source takes writes, the old one is still
    # frozen): finish it. The new source was set only once the drain had finished.
    halfway = {"reverse": ("frozen", "reverse"), "forward": ("forward", "frozen")}[target]
    if (monolith, service) == halfway:
        move_route()
        if target == "reverse":
            write_direction(http, m_url, "the monolith", "reverse")
        else:
            settle()
            write_direction(http, s_url, "the service", "forward")
        report.steps.append(f"finished an interrupted switch of {owners.capability} to {target}")
        report.changed = True
        return report
    if "retired" in (monolith, service):
        raise SwitchError(
            f"{owners.capability} is retired (the cord is cut: monolith={monolith}, "
            f"service={service}): it never moves to {target} again"
        )
    _refuse_what_cannot_follow(http, owners, target)
    if target == "reverse":
        if service != "forward" or monolith == "reverse":
            raise SwitchError(
                f"cannot switch {owners.capability} to reverse from monolith={monolith}, "
                f"service={service}; switch it back to forward first"
            )
        old: tuple[str, str, Direction] = ("the monolith", m_url, monolith)
        new = ("the service", s_url)
        check = lambda: forward_backlog(http, owners)  # noqa: E731
        new_source: Direction = "reverse"
        old_final: Direction = "reverse"
    else:
        if monolith != "reverse" or service == "forward":
            raise SwitchError(
                f"cannot switch {owners.capability} to forward from monolith={monolith}, "
                f"service={service}"
            )
        old = ("the service", s_url, service)
        new = ("the monolith", m_url)
        check = lambda: reverse_backlog(http, owners)  # noqa: E731
        new_source, old_final = "forward", "forward"
    old_name, old_url, old_before = old
    new_name, new_url = new

    write_direction(http, old_url, old_name, "frozen")
    report.steps.append(f"froze {old_name}'s writes of {owners.capability}")
    try:
        _await_drained(check, timeout_s=drain_timeout_s, poll_s=poll_s)
    except SwitchError as err:
        write_direction(http, old_url, old_name, old_before)
        raise type(err)(f"{err}; {old_name} is {old_before} again, nothing switched") from err
    report.steps.append("drained: every event it wrote is applied on the other side")
    try:
        write_direction(http, new_url, new_name, new_source)
    except SwitchError as err:
        write_direction(http, old_url, old_name, old_before)
        raise SwitchError(f"{err}; {old_name} is {old_before} again, nothing switched") from err
    report.steps.append(f"{new_name} takes the writes of {owners.capability}")
    try:
        move_route()
    except Exception as err:
        # Undo in the reverse order; the route did not move, so nobody wrote to the new source.
        write_direction(http, new_url, new_name, "forward" if target == "reverse" else "reverse")
        write_direction(http, old_url, old_name, old_before)
        raise SwitchError(
            f"moving the route failed ({err}); both owners are back as they were"
        ) from err
    report.steps.append("moved the write route")
    if target == "forward":
        settle()  # the settle period (DEFAULT_SETTLE_S), not a wait for a state
    write_direction(http, old_url, old_name, old_final)
    final = "read-only, applying reverse events" if target == "reverse" else "forward"
    report.steps.append(f"{old_name} is {final}")
    report.changed = True
    return report


def _retire(
    http: httpx.Client,
    owners: Owners,
    move_route: Callable[[], None],
    drain_timeout_s: float,
    poll_s: float,
) -> SwitchReport:
    """Reverse → retired on both owners: stop the flow, drain it, freeze the monolith."""
    capability = owners.capability
    report = SwitchReport(capability, "retired", changed=False)
    monolith, service = directions(http, owners)
    m_url, s_url = owners.monolith_direction_url(), owners.service_direction_url()
    if (monolith, service) == ("retired", "retired"):
        move_route()
        report.steps.append(f"{capability} is already retired: nothing to do")
        return report
    if monolith not in ("reverse", "retired") or service not in ("reverse", "retired"):
        raise SwitchError(
            f"cannot retire {capability} from monolith={monolith}, service={service}: only a "
            f"capability whose writes the service takes (reverse on both owners) can be retired"
        )
    if service == "reverse":
        write_direction(http, s_url, "the service", "retired")
        report.changed = True
        report.steps.append(f"the service no longer sends its {capability} events (retired)")
    if monolith == "reverse":
        check = lambda: reverse_backlog(http, owners, in_flight=False)  # noqa: E731
        try:
            _await_drained(check, timeout_s=drain_timeout_s, poll_s=poll_s)
        except SwitchError as err:
            raise type(err)(
                f"{err}; the service is retired (it sends nothing more), the monolith is still "
                f"reverse (read-only, applying the rest): retire {capability} again to finish"
            ) from err
        report.steps.append("drained: every event sent before the cut is applied on the monolith")
        write_direction(http, m_url, "the monolith", "retired")
        report.changed = True
        report.steps.append(
            f"the monolith's {capability} tables are read-only for good (retired); "
            "it applies no more events"
        )
    move_route()
    return report


@dataclass(frozen=True)
class DirectionPicture:
    """One capability's direction on both owners and its reverse flow (`strangler sync status`
    and the plan's ``reverse_backlog`` gate)."""

    capability: str
    monolith: Direction
    service: Direction
    #: Own-outbox events of the service not sent yet, and the oldest one's age.
    reverse_pending: int
    reverse_oldest_pending_age_s: float | None
    #: Reverse-sync events the monolith parked (`strangler sync dead-letters --owner monolith`).
    monolith_dead_letters: int

    def as_json(self) -> dict[str, object]:
        return {
            "capability": self.capability,
            "monolith": self.monolith,
            "service": self.service,
            "reverse_pending": self.reverse_pending,
            "reverse_oldest_pending_age_s": self.reverse_oldest_pending_age_s,
            "monolith_dead_letters": self.monolith_dead_letters,
        }


def direction_picture(owners: Owners, *, client: httpx.Client | None = None) -> DirectionPicture:
    with httpx.Client() if client is None else _borrowed(client) as http:
        monolith, service = directions(http, owners)
        tail = _tail(
            http, f"{owners.service_url.rstrip('/')}/internal/sync/outbox?limit=0", "the service"
        )
        url = f"{owners.monolith_url.rstrip('/')}/internal/sync/dead-letters?limit=1"
        letters = _call(http, "GET", url, "the monolith")
    count = letters.get("count") if isinstance(letters, dict) else None
    if not isinstance(count, int):
        raise SwitchError(f"the monolith at {url} answered an unexpected shape")
    return DirectionPicture(
        owners.capability,
        monolith,
        service,
        tail.pending,
        tail.oldest_pending_age_s,
        count,
    )

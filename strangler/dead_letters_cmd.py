"""`strangler sync dead-letters`: list the events a subscriber parked, and replay them after a
fix. Thin over the owner's ``/internal/sync/dead-letters`` (``sync.control.dead_letter_client``):
``--owner`` picks the subscriber: a service (forward sync; inventory by default,
STRANGLER_<OWNER>_URL) or the monolith (reverse sync); all answer the same shapes. ``replay``
sends the sync token (``STRANGLER_SYNC_TOKEN``, else ``$STRANGLER_VAR_DIR/sync-token``)."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, NoReturn

import typer
from rich.table import Table

from contracts.events import Capability
from strangler.console import stdout_console
from sync.control.dead_letter_client import (
    DeadLetterRefused,
    fetch_dead_letters,
    replay_dead_letters,
)
from sync.control.stats import StatsUnavailable
from sync.settings import SyncSettings

app = typer.Typer(
    help="List and replay the events a subscriber (inventory, payments, orders, or the monolith "
    "under reverse sync) parked.",
    no_args_is_help=True,
)
out = stdout_console()


class Owner(StrEnum):
    inventory = "inventory"
    payments = "payments"
    orders = "orders"
    monolith = "monolith"

    def url(self) -> str:
        settings = SyncSettings()
        services: dict[Owner, Capability] = {
            Owner.inventory: "inventory",
            Owner.payments: "payments",
            Owner.orders: "orders",
        }
        if self is Owner.monolith:
            return settings.monolith_url
        return settings.service_url(services[self])


OwnerOption = Annotated[
    Owner,
    typer.Option(
        "--owner",
        "--capability",
        "-c",
        help="Whose dead letters: a service's (forward sync) or the monolith's (reverse sync).",
    ),
]


def _fail(message: str) -> NoReturn:
    typer.echo(f"strangler sync: {' '.join(message.split())}", err=True)
    raise typer.Exit(1)


@app.command("list")
def list_letters(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Show at most this many.")] = 100,
    capability: OwnerOption = Owner.inventory,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """The parked events, oldest first, with their error."""
    try:
        page = fetch_dead_letters(capability.url(), limit=limit)
    except (StatsUnavailable, DeadLetterRefused) as exc:
        _fail(str(exc))
    if as_json:
        body = {"owner": capability.value, **page.model_dump(mode="json")}
        typer.echo(json.dumps(body, indent=2, ensure_ascii=False))
        return
    table = Table(title=f"Dead letters: {page.count} ({capability.value})")
    for column in ("id", "event id", "attempts", "parked at", "error"):
        table.add_column(column, overflow="fold")
    for letter in page.dead_letters:
        table.add_row(
            str(letter.id),
            letter.event_id or "-",
            str(letter.attempts),
            letter.parked_at,
            letter.error,
        )
    out.print(table)


@app.command()
def replay(
    ids: Annotated[list[int] | None, typer.Argument(help="Dead letter ids to replay.")] = None,
    replay_all: Annotated[bool, typer.Option("--all", help="Replay every dead letter.")] = False,
    capability: OwnerOption = Owner.inventory,
) -> None:
    """Apply parked events again (dedup and compare-and-set still hold); exit 1 if any failed."""
    if bool(ids) == replay_all:
        _fail("give dead letter ids or --all (not both)")
    try:
        results = replay_dead_letters(capability.url(), ids=None if replay_all else ids)
    except (StatsUnavailable, DeadLetterRefused) as exc:
        _fail(str(exc))
    failed = 0
    for result in results:
        if result.result == "replayed":
            out.print(f"{result.id} ({result.event_id}): replayed, {result.outcome}")
        else:
            failed += 1
            out.print(f"{result.id} ({result.event_id}): failed again: {result.error}")
    out.print(f"{len(results) - failed} replayed, {failed} failed")
    if failed:
        raise typer.Exit(1)

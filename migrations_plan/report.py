"""`strangler plan report`: the walk as evidence a team can attach to a change ticket.

One document, built once from the plan, the walk's state (every ``next``, ``rollback``,
``adopt`` and ``overwrite`` with the gates as measured, the traffic of the routes each step
watched and the route flags written) and what the live endpoints say now (stored shadow
mismatches with examples, sync backlog, lag, dead letters and the last reconciliation per
capability), then rendered twice: Markdown, and a single self-contained HTML file (inline style,
no scripts, nothing fetched). An endpoint that does not answer is written down as such: the
report is still made.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, get_args

from contracts.events import Capability
from migrations_plan.gates import EndpointError, Endpoints
from migrations_plan.model import Plan
from migrations_plan.state import HistoryEntry, PlanState

#: Examples of stored mismatches shown per route, and differences shown per example (a list page
#: shifted by one row differs in every field of every row).
MISMATCH_EXAMPLES = 3
DIFFERENCES_SHOWN = 8


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: Sequence[tuple[str, ...]]


@dataclass(frozen=True)
class Code:
    text: str


Block = Heading | Paragraph | Table | Code


@dataclass
class Document:
    title: str
    blocks: list[Block] = field(default_factory=list)

    def add(self, *blocks: Block) -> None:
        self.blocks.extend(blocks)


def _when(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _value(value: Any) -> str:
    return "(unset)" if value is None else json.dumps(value)


def _entry_blocks(entry: HistoryEntry) -> list[Block]:
    move = f"{entry.from_step or '(start)'} → {entry.to_step or '(start)'}"
    blocks: list[Block] = [
        Heading(f"{_when(entry.at)}: {entry.command} {move}", 3),
        Paragraph(f"By {entry.actor}."),
    ]
    if entry.gates:
        blocks.append(Paragraph(f"Gates that let the walk leave {entry.from_step}:"))
        blocks.append(
            Table(
                ("gate", "result", "observed", "needs"),
                [
                    (
                        str(g.get("gate")),
                        "pass" if g.get("passed") else "FAIL",
                        str(g.get("observed")) + (f" ({g['reason']})" if g.get("reason") else ""),
                        str(g.get("threshold")),
                    )
                    for g in entry.gates
                ],
            )
        )
    if entry.traffic is None and entry.command == "next" and entry.from_step:
        blocks.append(Paragraph("Traffic: the proxy's admin API did not answer."))
    elif entry.traffic:
        blocks.append(Paragraph(f"Traffic on the routes {entry.from_step} watched, over the step:"))
        blocks.append(
            Table(
                ("route", "requests", "errors", "compared", "mismatched"),
                [
                    (
                        route,
                        *(
                            str(c.get(k, 0))
                            for k in ("requests", "errors", "compared", "mismatched")
                        ),
                    )
                    for route, c in sorted(entry.traffic.items())
                ],
            )
        )
    if entry.changes:
        verb = "undone" if entry.command == "rollback" else "written"
        blocks.append(Paragraph(f"Route flags {verb}:"))
        blocks.append(
            Table(
                ("route", "flag", "before", "after"),
                [
                    (str(change["route"]), key, _value(change["before"].get(key)), _value(after))
                    for change in entry.changes
                    for key, after in change["after"].items()
                ],
            )
        )
    elif entry.command in ("next", "rollback", "overwrite"):
        blocks.append(Paragraph("No route flag changed."))
    return blocks


def _mismatch_blocks(plan: Plan, endpoints: Endpoints) -> list[Block]:
    routes = sorted({route for step in plan.steps for route in step.routes_watched()})
    blocks: list[Block] = [Heading("Shadow mismatches")]
    for route in routes:
        try:
            page = endpoints.mismatches(route, limit=MISMATCH_EXAMPLES)
        except EndpointError as err:
            blocks.append(Paragraph(f"{route}: unavailable ({err})."))
            continue
        count = int(page.get("count") or 0)
        blocks.append(Paragraph(f"{route}: {count} stored."))
        for example in page.get("results") or []:
            blocks.append(Code(_mismatch_example(example)))
    return blocks


def _mismatch_example(example: dict[str, Any]) -> str:
    """One stored mismatch: when, what, both statuses, what may explain it (the sync lag stored
    with it; a 503 from a side whose writes were frozen by a switch), and its first differences."""
    expected = example.get("expected") or {}
    actual = example.get("actual") or {}
    head = (
        f"{example.get('at')} {example.get('method')} {example.get('path')}: "
        f"monolith {expected.get('status')}, {example.get('target')} {actual.get('status')}"
    )
    lag = example.get("sync_lag_s")
    if lag is not None:
        head += f"; sync lag then {float(lag):.1f} s (a read behind a write not yet applied)"
    if 503 in (expected.get("status"), actual.get("status")):
        head += "; a 503 is a side frozen by a direction switch, or failing"
    differences = list(example.get("differences") or [])
    shown = json.dumps(differences[:DIFFERENCES_SHOWN], indent=2, sort_keys=True)
    more = len(differences) - DIFFERENCES_SHOWN
    tail = f"\n... and {more} more differences (strangler routes mismatches)" if more > 0 else ""
    return f"{head}\n{shown}{tail}"


def _writes(endpoints: Endpoints, capability: Capability) -> str:
    """Who takes the capability's writes, as each owner says (``retired`` once the cord is cut)."""
    try:
        monolith, service = endpoints.owner_directions(capability)
    except EndpointError:
        return "unknown"
    return f"monolith {monolith}, service {service}"


def _sync_blocks(endpoints: Endpoints) -> list[Block]:
    rows = []
    for capability in get_args(Capability):
        writes = _writes(endpoints, capability)
        try:
            outbox = endpoints.outbox_stats(capability)
            sync = endpoints.sync_stats(capability)
        except EndpointError as err:
            rows.append((capability, writes, "unavailable", "", "", "", str(err)))
            continue
        age = outbox.get("oldest_pending_age_s")
        lag = sync.get("last_lag_s")
        runs = sync.get("reconciliations") or {}
        reconciled = "; ".join(
            f"{name}: {'clean' if run.get('clean') else str(run.get('drift')) + ' drift'}"
            f"{', repaired' if run.get('clean_after_repair') else ''} at {run.get('finished_at')}"
            for name, run in sorted(runs.items())
        )
        rows.append(
            (
                capability,
                writes,
                str(outbox.get("pending")),
                "" if age is None else f"{float(age):.1f}s",
                "" if lag is None else f"{float(lag) * 1000:.0f} ms",
                str(sync.get("dead_letters", 0)),
                reconciled or "never",
            )
        )
    return [
        Heading("Sync, when the report was made"),
        Table(
            (
                "capability",
                "direction",
                "outbox pending",
                "oldest pending",
                "last lag",
                "dead letters",
                "last reconciliation",
            ),
            rows,
        ),
    ]


def build_report(
    plan: Plan, state: PlanState, endpoints: Endpoints | None, *, now: datetime
) -> Document:
    """The dossier of the walk so far (``endpoints`` None: from the state file alone)."""
    doc = Document(f"Migration report: {plan.title}")
    current = state.current_index(plan)
    where = "not started" if current is None else f"step {current + 1} of {len(plan.steps)}"
    doc.add(Paragraph(f"Plan {plan.name}, made {_when(now)}. The walk stands at {where}."))
    steps = []
    for number, step in enumerate(plan.steps, start=1):
        record = state.steps.get(step.id)
        status = "current" if current == number - 1 else "done" if record else "pending"
        if record is not None and record.completed_at is not None:
            status = "done"
        steps.append(
            (
                str(number),
                step.id,
                step.title,
                status,
                _when(record.started_at) if record else "",
                _when(record.completed_at) if record else "",
            )
        )
    doc.add(
        Heading("Steps"),
        Table(("#", "step", "title", "state", "entered", "left"), steps),
        Heading("Timeline"),
    )
    if not state.history:
        doc.add(Paragraph("Nothing has been walked yet."))
    for entry in state.history:
        doc.add(*_entry_blocks(entry))
    if endpoints is not None:
        doc.add(*_mismatch_blocks(plan, endpoints), *_sync_blocks(endpoints))
    if state.owned_flags:
        doc.add(
            Heading("Route flags the walk owns now"),
            Table(
                ("route", "flag", "value"),
                [
                    (route, key, _value(value))
                    for route, flags in sorted(state.owned_flags.items())
                    for key, value in sorted(flags.items())
                ],
            ),
        )
    return doc


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(doc: Document) -> str:
    lines = [f"# {doc.title}", ""]
    for block in doc.blocks:
        if isinstance(block, Heading):
            lines += ["#" * block.level + " " + block.text, ""]
        elif isinstance(block, Paragraph):
            lines += [block.text, ""]
        elif isinstance(block, Code):
            lines += ["```", block.text, "```", ""]
        else:
            lines.append("| " + " | ".join(block.header) + " |")
            lines.append("|" + "---|" * len(block.header))
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
            lines.append("")
    return "\n".join(lines)


_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem;
       color: #1d232b; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #d6dbe1; }
h3 { font-size: 1rem; margin-top: 1.5rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; }
th, td { border: 1px solid #d6dbe1; padding: .25rem .6rem; text-align: left; vertical-align: top; }
th { background: #f1f4f7; } pre { background: #f6f8fa; padding: .6rem; overflow-x: auto; }
"""


def render_html(doc: Document) -> str:
    esc = html.escape
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(doc.title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{esc(doc.title)}</h1>",
    ]
    for block in doc.blocks:
        if isinstance(block, Heading):
            parts.append(f"<h{block.level}>{esc(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            parts.append(f"<p>{esc(block.text)}</p>")
        elif isinstance(block, Code):
            parts.append(f"<pre>{esc(block.text)}</pre>")
        else:
            head = "".join(f"<th>{esc(cell)}</th>" for cell in block.header)
            body = "".join(
                "<tr>" + "".join(f"<td>{esc(cell)}</td>" for cell in row) + "</tr>"
                for row in block.rows
            )
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"

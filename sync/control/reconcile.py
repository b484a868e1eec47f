"""Reconciliation: compare the monolith's rows (the source) with the service's (the target)
without moving the tables, find the rows that differ, and optionally repair them.

Each side computes checksums over key ranges **in its own database** (contracts.reconcile and
protocol.reconcile_sql define them); this driver only compares numbers and bisects:

1. One side (the one with more rows in the range) splits the range into ``parts`` runs of equal
   row counts (keys only: an index scan).
2. Both sides checksum those runs at once (one scan each, in parallel).
3. Runs whose (count, sum of row hashes) differ are split again, until a run holds at most
   ``leaf_rows`` rows on both sides; then both sides list the run's canonical rows and the
   driver names what is missing, extra, or different (with the fields).

Equal tables cost one split and one checksum pass per side; one differing row adds two more
levels on a few thousand rows each. ``--repair`` then sends the source's current state of those
rows to the owner (extracted.chassis.sync.reconcile.repair says when a row is overwritten) and runs
a second pass to confirm. The same for every aggregate of protocol.reconcile_spec: a row's
child rows (a payment's refunds) are part of its text, so they drift with it.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from contracts.reconcile import (
    MAX_ROWS,
    BoundsRequest,
    BoundsResponse,
    CanonicalRow,
    ChecksumsRequest,
    ChecksumsResponse,
    ExtraRow,
    ReconciliationReport,
    RepairRequest,
    RepairResult,
    RowDrift,
    RowsRequest,
    RowsResponse,
)
from protocol.reconcile_spec import AggregateSpec, spec_named
from protocol.reconcile_sql import bucket_ranges

T = TypeVar("T")

#: Runs per split: 64 turns 1M rows into runs of ~16k, then ~250, then rows.
DEFAULT_PARTS = 64
#: A run this small on both sides is compared row by row.
DEFAULT_LEAF_ROWS = 512


class Side(Protocol):
    """One owner's reconciliation endpoints (``sync.control.reconcile_http`` calls them)."""

    def bounds(self, request: BoundsRequest) -> BoundsResponse: ...

    def checksums(self, request: ChecksumsRequest) -> ChecksumsResponse: ...

    def rows(self, request: RowsRequest) -> RowsResponse: ...


class Source(Side, Protocol):
    def states(self, keys: list[str]) -> list[dict[str, object]]: ...


class Target(Side, Protocol):
    def repair(self, request: RepairRequest) -> RepairResult: ...


@dataclass
class _Findings:
    missing: list[str] = field(default_factory=list)
    extra: dict[str, int] = field(default_factory=dict)
    different: list[RowDrift] = field(default_factory=list)
    requests: int = 0
    source_rows: int = 0
    target_rows: int = 0


def _row_drift(spec: AggregateSpec, source: CanonicalRow, target: CanonicalRow) -> RowDrift:
    """The fields whose canonical text differs (child rows count as one field, ``refunds``)."""
    theirs, ours = spec.split(source.text), spec.split(target.text)
    return RowDrift(
        key=source.key,
        fields=[name for name in spec.field_names if theirs[name] != ours[name]],
        source_version=source.version,
        target_version=target.version,
    )


class _Bisection:
    def __init__(
        self, spec: AggregateSpec, source: Side, target: Side, *, parts: int, leaf_rows: int
    ) -> None:
        if parts < 2:
            raise ValueError(f"parts must be at least 2, got {parts}")
        if not 1 <= leaf_rows <= MAX_ROWS:
            raise ValueError(f"leaf rows must be between 1 and {MAX_ROWS}, got {leaf_rows}")
        self.spec = spec
        self.source = source
        self.target = target
        self.parts = parts
        self.leaf_rows = leaf_rows
        self.found = _Findings()
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="reconcile")

    def both(self, call: Callable[[Side], T]) -> tuple[T, T]:
        """``call`` on both sides at once (each side works in its own database)."""
        self.found.requests += 2
        on_source = self.pool.submit(call, self.source)
        on_target = self.pool.submit(call, self.target)
        return on_source.result(), on_target.result()

    def run(self) -> _Findings:
        with self.pool:
            totals = self.range(None, None, None, None)
        self.found.source_rows, self.found.target_rows = totals
        return self.found

    def range(
        self, lo: str | None, hi: str | None, source_count: int | None, target_count: int | None
    ) -> tuple[int, int]:
        """Compare ``[lo, hi)``; the two sides' row counts in it."""
        if (
            source_count is not None
            and target_count is not None
            and max(source_count, target_count) <= self.leaf_rows
        ):
            self.leaf(lo, hi)
            return source_count, target_count
        # The side with more rows splits (at the root, the source): every run then holds fewer
        # of its rows, so the bisection always narrows.
        splitter = self.target if (target_count or 0) > (source_count or 0) else self.source
        self.found.requests += 1
        split = splitter.bounds(BoundsRequest(lo=lo, hi=hi, parts=self.parts))
        request = ChecksumsRequest(lo=lo, hi=hi, bounds=split.bounds)
        ours, theirs = self.both(lambda side: side.checksums(request))
        for (run_lo, run_hi), mine, other in zip(
            bucket_ranges(lo, hi, split.bounds), ours.ranges, theirs.ranges, strict=True
        ):
            if mine != other:
                self.range(run_lo, run_hi, mine.count, other.count)
        return sum(r.count for r in ours.ranges), sum(r.count for r in theirs.ranges)

    def leaf(self, lo: str | None, hi: str | None) -> None:
        request = RowsRequest(lo=lo, hi=hi, limit=self.leaf_rows)
        ours, theirs = self.both(lambda side: side.rows(request))
        source_rows = {row.key: row for row in ours.rows}
        target_rows = {row.key: row for row in theirs.rows}
        for key in sorted(source_rows.keys() | target_rows.keys()):
            mine, other = source_rows.get(key), target_rows.get(key)
            if other is None:
                self.found.missing.append(key)
            elif mine is None:
                self.found.extra[key] = other.version
            elif mine.text != other.text:
                self.found.different.append(_row_drift(self.spec, mine, other))


def compare(
    source: Side,
    target: Side,
    *,
    aggregate: str = "products",
    parts: int = DEFAULT_PARTS,
    leaf_rows: int = DEFAULT_LEAF_ROWS,
) -> ReconciliationReport:
    """One reconciliation pass of ``aggregate`` (protocol.reconcile_spec.SPECS): the drift
    report (no repair)."""
    spec = spec_named(aggregate)
    started = datetime.now(UTC)
    found = _Bisection(spec, source, target, parts=parts, leaf_rows=leaf_rows).run()
    return ReconciliationReport(
        aggregate=aggregate,
        started_at=started,
        finished_at=datetime.now(UTC),
        source_rows=found.source_rows,
        target_rows=found.target_rows,
        missing=found.missing,
        extra=[ExtraRow(key=k, target_version=v) for k, v in sorted(found.extra.items())],
        different=found.different,
        requests=found.requests,
    )


def _chunks(keys: list[str], size: int = MAX_ROWS) -> list[list[str]]:
    return [keys[i : i + size] for i in range(0, len(keys), size)]


def repair(source: Source, target: Target, report: ReconciliationReport) -> RepairResult:
    """Send the source's current state of every drifted row to the owner, in chunks."""
    observed: dict[str, int | None] = {key: None for key in report.missing}
    observed.update({drift.key: drift.target_version for drift in report.different})
    extra = {row.key: row.target_version for row in report.extra}
    written = deleted = skipped = 0
    for number, batch in enumerate(_chunks(list(observed)) or [[]]):
        result = target.repair(
            RepairRequest(
                states=source.states(batch) if batch else [],
                observed={key: observed[key] for key in batch},
                extra=extra if number == 0 else {},
            )
        )
        written += result.written
        deleted += result.deleted
        skipped += result.skipped
    return RepairResult(written=written, deleted=deleted, skipped=skipped)


def reconcile(
    source: Source,
    target: Target,
    *,
    repair_drift: bool = False,
    aggregate: str = "products",
    parts: int = DEFAULT_PARTS,
    leaf_rows: int = DEFAULT_LEAF_ROWS,
) -> ReconciliationReport:
    """Compare; with ``repair_drift``, repair what drifted and compare again."""
    report = compare(source, target, aggregate=aggregate, parts=parts, leaf_rows=leaf_rows)
    if not repair_drift or report.clean:
        return report
    result = repair(source, target, report)
    after = compare(source, target, aggregate=aggregate, parts=parts, leaf_rows=leaf_rows)
    return report.model_copy(
        update={
            "repair": result,
            "clean_after_repair": after.clean,
            "finished_at": after.finished_at,
        }
    )

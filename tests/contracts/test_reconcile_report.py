"""A stored reconciliation report keeps its exact counts however many rows it had to cut."""

from __future__ import annotations

from datetime import UTC, datetime

from contracts.reconcile import STORED_ROWS, ExtraRow, ReconciliationReport, RowDrift


def test_a_recorded_report_is_cut_to_a_sample_with_exact_counts() -> None:
    now = datetime.now(UTC)
    report = ReconciliationReport(
        aggregate="products",
        started_at=now,
        finished_at=now,
        source_rows=5000,
        target_rows=0,
        missing=[f"SKU-{i:05d}" for i in range(5000)],
        extra=[ExtraRow(key="x", target_version=1)],
        different=[RowDrift(key="y", fields=["name"], source_version=1, target_version=1)],
        requests=3,
    )
    stored = ReconciliationReport.model_validate_json(report.for_record().model_dump_json())
    assert len(stored.missing) == STORED_ROWS and stored.missing == report.missing[:STORED_ROWS]
    assert stored.drift == report.drift == 5002
    assert (stored.drift_counts.missing, stored.drift_counts.extra) == (5000, 1)
    assert not stored.clean

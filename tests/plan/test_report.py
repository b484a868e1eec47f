"""`strangler plan report`: the walk's dossier, Markdown and one self-contained HTML file, from
the state the walker kept and what the (real, HTTP) endpoints say now."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from tests.plan.conftest import PlanEnv
from tests.plan.test_walk import READS, walk_to


def test_the_report_shows_each_move_with_its_gates_traffic_and_flags(plan_env: PlanEnv) -> None:
    walk_to(plan_env, "canary-10")
    assert plan_env.plan("rollback").returncode == 0
    plan_env.components.data["mismatches"].append(
        {
            "route": READS,
            "at": datetime.now(UTC).isoformat(),
            "method": "GET",
            "path": "/api/inventory/products/<script>alert(1)</script>/",
            "target": "inventory",
            "expected": {"status": 200},
            "actual": {"status": 404},
            "differences": [{"path": "$.status", "kind": "status"}],
        }
    )
    # A list page shifted by one row: a difference in every field, read behind a write.
    plan_env.components.data["mismatches"].append(
        {
            "route": READS,
            "at": datetime.now(UTC).isoformat(),
            "method": "GET",
            "path": "/api/inventory/products/",
            "target": "inventory",
            "expected": {"status": 200},
            "actual": {"status": 200},
            "sync_lag_s": 0.4,
            "differences": [{"path": f"$.results[{n}].sku", "kind": "value"} for n in range(12)],
        }
    )
    # Payments and orders answer as services of their own (inventory's is the root: no direction).
    plan_env.components.data["directions"] = {
        "payments": {"monolith": "retired", "service": "retired"},
        "orders": {"monolith": "reverse", "service": "reverse"},
    }
    plan_env.components.save()
    for capability in ("payments", "orders"):
        plan_env.overrides[f"STRANGLER_{capability.upper()}_URL"] = (
            f"{plan_env.url}/svc/{capability}"
        )
    out = plan_env.tmp / "dossier"

    done = plan_env.plan("report", "--out", str(out))

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(out / "plan-report.md"), str(out / "plan-report.html")]
    md = (out / "plan-report.md").read_text()
    assert "The walk stands at step 3 of 22" in md
    # Leaving backfill-and-sync: its gates as measured, then the flags the next step wrote.
    assert re.search(r"next backfill-and-sync → shadow-reads", md)
    assert "| backfill 'products' done | pass | done, 100 rows | done |" in md
    assert '| inventory-reads | mode | "monolith" | "shadow" |' in md
    # Leaving shadow-reads: the traffic of the route it watched, over the step.
    assert re.search(r"\| inventory-reads \| 600 \| 0 \| 300 \| 0 \|", md)
    # The rollback says what it undid.
    rollback = md[md.index("rollback canary-10 → shadow-reads") :]
    assert "Route flags undone:" in rollback
    assert '| inventory-reads | mode | "canary" | "shadow" |' in rollback
    assert "inventory-reads: 2 stored." in md and "monolith 200, inventory 404" in md
    # Its first differences only, and what may explain it.
    assert "sync lag then 0.4 s" in md
    assert "$.results[7].sku" in md and "$.results[8].sku" not in md
    assert "... and 4 more differences" in md
    # Who takes each capability's writes, as its owners say (retired: the cord is cut), and a
    # capability whose owner did not answer is written down, not dropped.
    assert "| orders | monolith reverse, service reverse | unavailable |" in md
    assert "| payments | monolith retired, service retired | unavailable |" in md
    assert re.search(r"\| inventory \| unknown \| \d+ \|", md)

    page = (out / "plan-report.html").read_text()
    assert page.startswith("<!doctype html>")
    assert "<script" not in page and "&lt;script&gt;" in page
    assert not re.search(r"""(src|href)=["']?https?:""", page)
    assert "rollback canary-10 → shadow-reads" in page


def test_an_unwritable_folder_is_one_line_and_exit_1(plan_env: PlanEnv) -> None:
    blocker = plan_env.tmp / "a-file"
    blocker.write_text("not a folder")
    done = plan_env.plan("report", "--out", str(blocker / "sub"), "--no-live")
    assert done.returncode == 1
    assert done.stderr.startswith("strangler plan: cannot write") and done.stderr.count("\n") == 1

"""The inventory service's reconciliation endpoints in process: checksums agree with the rows they
cover, bad bodies are refused with the contract's 400 before anything runs, repair respects
versions except for the exact row state reconciliation saw, a reservation's lines are part of its
row and are replaced by a repair, and the runs of each aggregate show in the sync stats."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from extracted.inventory.models import Product, Reservation
from extracted.inventory.sync import apply_event
from protocol.canonical import row_hash
from protocol.reconcile_spec import PRODUCTS, RESERVATIONS
from tests.extracted.asgi_client import BlockingASGIClient
from tests.extracted.inventory.factories import envelope, product_state, reservation_state
from tests.extracted.reconcile_calls import canonical_rows, clean_report, post_repair

BASE = "/internal/reconcile/products"


def _seed(sessions: sessionmaker[Session], *skus: str, version: int = 1) -> list[dict[str, Any]]:
    states = [product_state(sku=sku, version=version) for sku in skus]
    for state in states:
        assert apply_event(envelope(state), sessions=sessions) == "applied"
    return states


def test_checksums_are_the_sum_of_the_rows_hashes_per_run(
    internal: BlockingASGIClient, sessions: sessionmaker[Session]
) -> None:
    states = _seed(sessions, "a1", "B2", "c3", "_4")
    answer = internal.post(f"{BASE}/checksums", json={"bounds": ["a"]})
    assert answer.status_code == 200
    below, above = answer.json()["ranges"]
    # Byte order: "B2" < "_4" < "a" <= "a1" < "c3".
    expected = {
        s["sku"]: row_hash(PRODUCTS.canonical([s[f.name] for f in PRODUCTS.fields])) for s in states
    }
    assert below == {"count": 2, "checksum": str(expected["B2"] + expected["_4"])}
    assert above == {"count": 2, "checksum": str(expected["a1"] + expected["c3"])}
    rows = internal.post(f"{BASE}/rows", json={"lo": "_", "hi": "b"}).json()["rows"]
    assert [r["key"] for r in rows] == ["_4", "a1"]


def test_bad_bodies_are_a_400(internal: BlockingASGIClient) -> None:
    for path, body in [
        ("bounds", {"parts": 1}),
        ("checksums", {"bounds": ["b", "a"]}),
        ("checksums", {"lo": "m", "bounds": ["a"]}),
        ("rows", {"limit": 0}),
        ("repair", {"states": [{"sku": "x"}]}),
        ("runs", {"aggregate": "products"}),
        ("checksums", {"unknown": 1}),
    ]:
        answer = internal.post(f"{BASE}/{path}", json=body)
        assert answer.status_code == 400, (path, body, answer.text)
        assert answer.json()["error"] == "invalid"


def test_repair_overrides_only_the_state_it_saw(
    internal: BlockingASGIClient, sessions: sessionmaker[Session]
) -> None:
    [corrupt, moved_on] = _seed(sessions, "R1", "R2", version=9)
    truth = [product_state(sku="R1", version=3), product_state(sku="R2", version=3)]
    answer = internal.post(
        f"{BASE}/repair",
        # Reconciliation saw R1 at version 9 (it still is: overwritten although 3 < 9) and R2
        # at version 8 (it moved on to 9 since: left alone).
        json={"states": truth, "observed": {"R1": 9, "R2": 8}, "extra": {"gone": 1}},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"written": 1, "deleted": 0, "skipped": 2}
    with sessions() as session:
        r1, r2 = session.get(Product, "R1"), session.get(Product, "R2")
    assert r1 is not None and r1.version == 3 and r1.name == truth[0]["name"]
    assert r2 is not None and r2.version == 9 and r2.name == moved_on["name"]
    assert corrupt["sku"] == "R1"


def test_a_reservation_is_its_lines_too_and_repair_replaces_them(
    internal: BlockingASGIClient, sessions: sessionmaker[Session]
) -> None:
    truth = reservation_state(lines=[("b-zeta", 2), ("B-alpha", 1)], version=3)
    stray = reservation_state(lines=[("SKU-1", 1)])
    for state in (truth, stray):
        assert apply_event(envelope(state, aggregate_type="reservation"), sessions=sessions) == (
            "applied"
        )
    rows = canonical_rows(internal, "reservations")
    assert rows[truth["id"]]["text"] == RESERVATIONS.canonical_state(truth)
    with sessions.begin() as session:
        session.execute(
            text("UPDATE reservation_lines SET quantity = 7 WHERE sku = 'B-alpha'"),
        )
    drifted = RESERVATIONS.split(canonical_rows(internal, "reservations")[truth["id"]]["text"])
    expected = RESERVATIONS.split(RESERVATIONS.canonical_state(truth))
    assert [n for n in RESERVATIONS.field_names if drifted[n] != expected[n]] == ["lines"]

    result = post_repair(
        internal, "reservations", [truth], observed={truth["id"]: 3}, extra={stray["id"]: 1}
    )
    assert result == {"written": 1, "deleted": 1, "skipped": 0}
    assert {key: row["text"] for key, row in canonical_rows(internal, "reservations").items()} == {
        truth["id"]: RESERVATIONS.canonical_state(truth)
    }
    with sessions() as session:
        assert session.get(Reservation, uuid.UUID(stray["id"])) is None


def test_the_runs_of_each_aggregate_are_shown_by_the_sync_stats(
    internal: BlockingASGIClient,
) -> None:
    for aggregate in ("products", "reservations"):
        answer = internal.post(
            f"/internal/reconcile/{aggregate}/runs", json=clean_report(aggregate, 3)
        )
        assert answer.status_code == 201, answer.text
    stats = internal.get("/internal/sync/stats").json()
    assert sorted(stats["reconciliations"]) == ["products", "reservations"]
    assert stats["last_reconciliation"] == stats["reconciliations"]["reservations"]
    unknown = internal.post("/internal/reconcile/payments/rows", json={})
    assert (unknown.status_code, unknown.json()["error"]) == (404, "not_found")

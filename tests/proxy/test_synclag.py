"""proxy.synclag: reading a lag figure from the JSON answers of the stats endpoints."""

from __future__ import annotations

from typing import Any

import pytest

from proxy.synclag import lag_from


@pytest.mark.parametrize(
    ("answer", "lag"),
    [
        ({"lag_s": 1.25}, 1.25),
        ({"lag_s": 3}, 3.0),
        ({"pending": 4, "total": 9, "oldest_pending_age_s": 7.5}, 7.5),  # the monolith's outbox
        ({"pending": 0, "total": 9, "oldest_pending_age_s": None}, 0.0),  # nothing pending
        ({"events_processed": 3, "last_lag_s": 0.4}, 0.4),  # the service's sync stats
        ({"lag_s": 2.0, "last_lag_s": 9.0}, 2.0),  # the first key wins
        ({"last_lag_s": None}, None),  # the service has applied nothing yet
        ({"pending": 2, "oldest_pending_age_s": None}, None),
        ({"lag_s": "5"}, None),
        ({"lag_s": True}, None),
        ({"lag_s": -1}, None),
        ({"lag_s": float("nan")}, None),
        ({"other": 1}, None),
        ([1, 2], None),
        (None, None),
    ],
)
def test_lag_from(answer: Any, lag: float | None) -> None:
    assert lag_from(answer) == lag

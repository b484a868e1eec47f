"""Recorded traffic: what the proxy keeps of a live request, and how it is replayed.

A route with ``record: {percent, max_requests}`` has that share of its answered requests kept
in the diff store (the newest ``max_requests`` per route), written by the shadow process, off the
hot path. What is kept is redacted first (:func:`redacted_request`): the ``Authorization``,
``Proxy-Authorization`` and ``Cookie`` headers are not kept as sent (``Cookie`` not at all), and in
a JSON body every value under a secret key (:data:`SECRET_KEYS`: card tokens and numbers,
passwords) is replaced by :data:`REDACTED`. A body that is not JSON is not kept (it could hold
anything): the recording says so, and its replay sends no body.

:func:`recorded_scenario` turns recordings into a scenario the comparison harness replays
against both sides (``strangler compare --recorded ROUTE``), writes as dry runs like every
scenario, sent literally: a request that carried a token carries the operator's
(``COMPARE_TOKEN``) instead, a redacted card token becomes the card token the operator names, and
an ``Idempotency-Key`` becomes a key fresh to the replay (the same on both sides), so a replayed
write is never answered from the first one's stored answer.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from proxy.headers import CREDENTIAL_HEADERS, HOP_BY_HOP, REDACTED
from proxy.scenario import Scenario, ScenarioError, Step

#: JSON keys whose values are never kept (compared lowercase).
SECRET_KEYS = frozenset({"card_token", "card_number", "cvc", "cvv", "password", "secret"})
#: Request headers a replay does not send as recorded: credentials (re-supplied), the
#: connection's own, and what the replay or the proxy sets itself.
_NOT_REPLAYED = (
    HOP_BY_HOP
    | CREDENTIAL_HEADERS
    | {
        "host",
        "content-length",
        "expect",
        "forwarded",
        "x-request-id",
        "traceparent",
        "tracestate",
        "idempotency-key",
    }
)
#: What a ``replace`` of :func:`_rewrite` answers to leave a value as it is (and descend).
_KEEP = object()


def _rewrite(value: Any, replace: Callable[[str, Any], Any]) -> Any:
    """``value`` (parsed JSON) with every object member passed through ``replace(key, item)``:
    its answer replaces the item, or :data:`_KEEP` keeps it and descends into it."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            new = replace(str(key), item)
            out[key] = _rewrite(item, replace) if new is _KEEP else new
        return out
    if isinstance(value, list):
        return [_rewrite(item, replace) for item in value]
    return value


def redacted_request(
    headers: Iterable[tuple[str, str]], body: bytes
) -> tuple[list[tuple[str, str]], bytes, bool]:
    """(headers, body, body_kept) as a recording keeps them."""
    kept = [
        (name, REDACTED if name.lower() in CREDENTIAL_HEADERS else value)
        for name, value in headers
        if name.lower() != "cookie"
    ]
    if not body:
        return kept, b"", True
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return kept, b"", False

    def secret(key: str, item: Any) -> Any:
        return REDACTED if key.lower() in SECRET_KEYS else _KEEP

    return kept, json.dumps(_rewrite(data, secret), separators=(",", ":")).encode(), True


def _replayed_body(body: str, card_token: str) -> Any:
    def card(key: str, item: Any) -> Any:
        return card_token if key == "card_token" and item == REDACTED else _KEEP

    return _rewrite(json.loads(body), card)


def recorded_scenario(
    route: str,
    recordings: Iterable[Mapping[str, Any]],
    *,
    token: str | None,
    card_token: str = "tok_visa",
) -> Scenario:
    """The recordings of ``route`` (as ``GET /admin/recordings`` lists them, oldest first) as a
    scenario of one step each, sent literally (no placeholder in a recorded request is ever
    expanded). ``token`` stands in for the redacted credentials; ScenarioError when a recorded
    request carried one and no token is given."""
    steps = []
    for rec in recordings:
        headers: dict[str, str] = {}
        for name, value in rec["headers"]:
            lower = name.lower()
            if lower == "authorization":
                if token is None:
                    raise ScenarioError(
                        f"recorded request {rec['id']} carried a token (redacted when it was "
                        "recorded): set COMPARE_TOKEN to the token to replay it with"
                    )
                headers["Authorization"] = f"Bearer {token}"
            elif lower == "idempotency-key":
                headers["Idempotency-Key"] = str(uuid.uuid4())
            elif lower not in _NOT_REPLAYED and not lower.startswith(
                ("x-strangler-", "x-forwarded-")
            ):
                headers[name] = value
        target = rec["path"] + (f"?{rec['query']}" if rec.get("query") else "")
        body = rec.get("body") or ""
        steps.append(
            Step(
                name=f"recorded {rec['id']}",
                method=rec["method"],
                path=target,
                headers=headers,
                body=_replayed_body(body, card_token) if body else None,
                literal=True,
            )
        )
    return Scenario(name=f"recorded traffic of {route}", steps=steps)

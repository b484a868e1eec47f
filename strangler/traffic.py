"""The workshop's traffic: reads, writes and checkouts through the proxy, at a rate, for a time.

Open loop: request ``i`` is due ``i / rate`` seconds after the start, whatever the answers before
it took (a slow side shows as latency and requests in flight, not as a lower rate), with at most
``max_in_flight`` outstanding; a request that would exceed it waits, and is counted ``late``.
The run is bounded twice: by ``duration_s`` and by ``rate * duration_s`` requests.

Each request carries a client key from a pool of ``clients`` (``X-Client-Id``); checkouts and the
reads of orders and payments carry one of the customers' tokens, so routes sticky on
``header:X-Client-Id`` and on ``jwt:sub`` both see many keys.

Outcomes are judged per kind (:data:`EXPECTED`). A ``503`` with ``Retry-After`` is what an owner
answers inside a direction switch's freeze: the request is sent again after the time it names (at
most :data:`MAX_RETRY_AFTER_S`, :data:`MAX_FROZEN_RETRIES` times) and counted ``frozen``; it is a
failure only if no retry succeeds. Anything else unexpected - another status, a transport
error, a timeout - is a failure, with its first examples kept.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import httpx

Kind = Literal["read", "write", "checkout", "payment"]
KINDS: tuple[Kind, ...] = ("read", "write", "checkout", "payment")

#: The answers that count as success, per kind. A checkout may find the stock gone (409, the
#: order stored cancelled): that is the contract working, not a failure.
EXPECTED: dict[Kind, frozenset[int]] = {
    "read": frozenset({200}),
    "write": frozenset({200}),
    "payment": frozenset({201}),
    "checkout": frozenset({201, 409}),
}
MAX_RETRY_AFTER_S = 5.0
MAX_FROZEN_RETRIES = 5
#: Most requests one run may send, whatever rate and duration ask for.
MAX_REQUESTS = 1_000_000
EXAMPLES_KEPT = 5


class MixError(ValueError):
    """A ``--mix`` that does not say ``kind=weight,...`` with known kinds and some weight."""


@dataclass(frozen=True)
class Mix:
    """Relative weights of the kinds: reads, stock adjustments (``write``), card payments a
    customer makes outside any order (``payment``), checkouts."""

    read: int = 70
    write: int = 20
    checkout: int = 10
    payment: int = 0

    @classmethod
    def parse(cls, text: str) -> Mix:
        """``"read=70,write=20,checkout=10,payment=5"``; an omitted kind weighs 0."""
        weights: dict[str, int] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, sep, value = part.partition("=")
            name = name.strip().rstrip("s")  # "reads=70" reads as well as "read=70"
            if not sep or name not in KINDS:
                raise MixError(
                    f"{part!r}: expected KIND=WEIGHT with KIND one of {', '.join(KINDS)}"
                )
            try:
                weight = int(value)
            except ValueError:
                raise MixError(f"{part!r}: the weight must be a whole number") from None
            if weight < 0:
                raise MixError(f"{part!r}: the weight must not be negative")
            weights[name] = weight
        mix = cls(**{kind: weights.get(kind, 0) for kind in KINDS})
        if not sum(mix.weights()):
            raise MixError("the mix has no weight at all")
        return mix

    def weights(self) -> tuple[int, int, int, int]:
        return (self.read, self.write, self.checkout, self.payment)

    def kinds(self, seed: int) -> Callable[[], Kind]:
        """A function that draws the next kind by weight (seeded: a run is repeatable)."""
        draw = random.Random(seed)
        weights = self.weights()
        return lambda: draw.choices(KINDS, weights)[0]


@dataclass(frozen=True)
class Workload:
    """What to send: the base URL (the proxy), which products, as whom."""

    base_url: str
    skus: Sequence[str]
    #: Customer tokens, for checkouts and the reads of their orders and payments.
    customer_tokens: Sequence[str] = ()
    #: A staff token for stock adjustments (writes), when the stack asks for one.
    staff_token: str | None = None
    clients: int = 50
    card_token: str = "tok_visa"

    def __post_init__(self) -> None:
        if not self.skus:
            raise ValueError("the workload needs at least one sku")
        if self.clients < 1:
            raise ValueError("the workload needs at least one client key")


@dataclass
class Tally:
    """What a run saw. ``by_kind`` counts final statuses (``0`` = no answer)."""

    sent: int = 0
    late: int = 0
    by_kind: dict[Kind, Counter[int]] = field(
        default_factory=lambda: {kind: Counter() for kind in KINDS}
    )
    #: 503 + Retry-After answers (freeze windows), and how many of those requests then succeeded.
    frozen: int = 0
    frozen_recovered: int = 0
    failures: int = 0
    examples: list[str] = field(default_factory=list)
    in_flight: int = 0
    started_at: float = field(default_factory=time.monotonic)

    def ok(self) -> int:
        return sum(
            count
            for kind, counts in self.by_kind.items()
            for status, count in counts.items()
            if status in EXPECTED[kind]
        )

    def fail(self, example: str) -> None:
        self.failures += 1
        if len(self.examples) < EXAMPLES_KEPT:
            self.examples.append(example)

    def line(self) -> str:
        """One line of counts, for the live display."""
        elapsed = time.monotonic() - self.started_at
        kinds = "  ".join(
            f"{kind} "
            + (",".join(f"{status or 'none'}:{n}" for status, n in sorted(counts.items())) or "-")
            for kind, counts in self.by_kind.items()
        )
        return (
            f"{elapsed:6.1f}s  sent {self.sent}  ok {self.ok()}  failed {self.failures}  "
            f"frozen {self.frozen} (recovered {self.frozen_recovered})  "
            f"in flight {self.in_flight}  |  {kinds}"
        )

    def as_json(self) -> dict[str, object]:
        return {
            "sent": self.sent,
            "ok": self.ok(),
            "failed": self.failures,
            "late": self.late,
            "frozen": self.frozen,
            "frozen_recovered": self.frozen_recovered,
            "by_kind": {
                kind: {str(status): n for status, n in sorted(counts.items())}
                for kind, counts in self.by_kind.items()
            },
            "failure_examples": list(self.examples),
            "elapsed_s": round(time.monotonic() - self.started_at, 3),
        }


@dataclass(frozen=True)
class Request:
    kind: Kind
    method: str
    path: str
    headers: dict[str, str]
    json: dict[str, object] | None = None


class RequestMaker:
    """Draws request ``i`` of a run: its kind from the mix, its key, product and caller."""

    def __init__(self, workload: Workload, mix: Mix, seed: int) -> None:
        if (mix.checkout or mix.payment) and not workload.customer_tokens:
            raise ValueError("checkouts and payments need customer tokens")
        self.workload = workload
        self.next_kind = mix.kinds(seed)
        self.draw = random.Random(seed + 1)

    def make(self, i: int) -> Request:
        w = self.workload
        kind = self.next_kind()
        client = f"traffic-{i % w.clients}"
        sku = w.skus[self.draw.randrange(len(w.skus))]
        headers = {"X-Client-Id": client}
        if kind == "read":
            return self._read(client, sku, headers)
        if kind == "write":
            if w.staff_token:
                headers["Authorization"] = f"Bearer {w.staff_token}"
            body: dict[str, object] = {"delta": 1 + i % 3, "reason": "workshop traffic"}
            return Request(
                kind, "POST", f"/api/inventory/products/{sku}/adjustments/", headers, body
            )
        headers["Authorization"] = f"Bearer {self._customer()}"
        headers["Idempotency-Key"] = f"traffic-{uuid.uuid4()}"
        if kind == "payment":
            # Captured at once, with no order: the books count only payments of orders.
            payment: dict[str, object] = {
                "amount": f"{1 + i % 20}.00",
                "card_token": w.card_token,
                "capture": True,
            }
            return Request(kind, "POST", "/api/payments/", headers, payment)
        body = {"lines": [{"sku": sku, "quantity": 1}], "card_token": w.card_token}
        return Request(kind, "POST", "/api/orders/", headers, body)

    def _customer(self) -> str:
        tokens = self.workload.customer_tokens
        return tokens[self.draw.randrange(len(tokens))]

    def _read(self, client: str, sku: str, headers: dict[str, str]) -> Request:
        """A third of the reads ask for a customer's own orders or payments when there are
        customers; the rest read a product."""
        if self.workload.customer_tokens and self.draw.random() < 1 / 3:
            path = self.draw.choice(("/api/orders/", "/api/payments/"))
            headers["Authorization"] = f"Bearer {self._customer()}"
            return Request("read", "GET", path, headers)
        return Request("read", "GET", f"/api/inventory/products/{sku}/", headers)


def _retry_after_s(answer: httpx.Response) -> float | None:
    """The seconds a 503's ``Retry-After`` names (delta-seconds only), else None."""
    if answer.status_code != 503:
        return None
    value = answer.headers.get("Retry-After", "").strip()
    try:
        seconds = float(value)
    except ValueError:
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


async def _send(client: httpx.AsyncClient, request: Request, tally: Tally) -> None:
    """One request to its end: frozen answers retried after Retry-After, the outcome counted."""
    frozen = False
    status = 0
    detail = ""
    for _attempt in range(MAX_FROZEN_RETRIES + 1):
        try:
            answer = await client.request(
                request.method, request.path, headers=request.headers, json=request.json
            )
        except httpx.HTTPError as err:
            status, detail = 0, f"{type(err).__name__}: {err}"
            break
        status = answer.status_code
        wait = _retry_after_s(answer)
        if wait is None:
            detail = answer.text[:200]
            break
        if not frozen:
            frozen = True
            tally.frozen += 1
        await asyncio.sleep(wait)
    tally.by_kind[request.kind][status] += 1
    if status in EXPECTED[request.kind]:
        if frozen:
            tally.frozen_recovered += 1
    else:
        tally.fail(f"{request.method} {request.path} -> {status or 'no answer'} {detail}".strip())


async def run_traffic(
    workload: Workload,
    mix: Mix,
    *,
    rate: float,
    duration_s: float,
    max_in_flight: int = 64,
    timeout_s: float = 30.0,
    seed: int = 0,
    on_tick: Callable[[Tally], None] | None = None,
    tick_s: float = 1.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Tally:
    """Send ``rate`` requests a second for ``duration_s`` seconds, then wait for the last
    answers (each bounded by ``timeout_s`` and its frozen retries) and return the tally."""
    if rate <= 0 or duration_s <= 0:
        raise ValueError("rate and duration must be positive")
    total = min(MAX_REQUESTS, max(1, round(rate * duration_s)))
    maker = RequestMaker(workload, mix, seed)
    tally = Tally()
    slots = asyncio.Semaphore(max_in_flight)
    limits = httpx.Limits(max_connections=max_in_flight, max_keepalive_connections=max_in_flight)
    async with httpx.AsyncClient(
        base_url=workload.base_url,
        timeout=timeout_s,
        limits=limits,
        transport=transport,
    ) as client:
        ticker = asyncio.create_task(_tick(tally, on_tick, tick_s)) if on_tick else None
        tasks: set[asyncio.Task[None]] = set()

        async def one(request: Request) -> None:
            try:
                await _send(client, request, tally)
            finally:
                tally.in_flight -= 1
                slots.release()

        start = time.monotonic()
        for i in range(total):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if slots.locked():
                tally.late += 1
            await slots.acquire()
            tally.in_flight += 1
            tally.sent += 1
            task = asyncio.create_task(one(maker.make(i)))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)
        if ticker is not None and on_tick is not None:
            ticker.cancel()
            on_tick(tally)
    return tally


async def _tick(tally: Tally, on_tick: Callable[[Tally], None], every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        on_tick(tally)

"""``sync.celery_app`` against a real worker process, on real Redis and on the filesystem
transport."""

from __future__ import annotations

import ast
import json
import time
from pathlib import Path

import pytest
import redis
from celery import Celery
from kombu.exceptions import EncodeError

from contracts.events import CAPABILITY_AGGREGATES, Capability
from sync.backfill_jobs import JOBS
from sync.backfill_pace import stagger, throttle_countdown
from sync.celery_app import (
    MAX_RETRY_COUNTDOWN_S,
    VISIBILITY_TIMEOUT_S,
    BrokerSettingsError,
    make_celery,
    queue_name,
)
from sync.task_names import EVENT_BATCH_TASKS, EVENT_TASKS, RELAYED_AGGREGATES
from tests.support.processes import REPO_ROOT
from tests.support.random_refs import random_suffix
from tests.support.waiting import wait_for
from tests.sync.workers import running_worker

ECHO_APP = "tests.sync.echo_app"


def _sender(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Celery:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return make_celery("test-sender")


def _round_trip(sender: Celery, tmp_path: Path) -> None:
    out = tmp_path / f"echo-{random_suffix()}.json"
    payload = {"event_id": random_suffix(), "nested": {"n": 1, "s": "ä"}}
    sender.send_task("inventory.echo", args=[str(out), payload])
    wait_for(out.exists, timeout=30, message="the echo task to run")
    assert json.loads(out.read_text(encoding="utf-8")) == payload


@pytest.mark.parametrize("broker", ["redis", "filesystem"])
def test_a_task_sent_by_name_runs_on_a_real_worker(
    broker: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    env = request.getfixturevalue(f"{broker}_env")
    with running_worker("echo", app=ECHO_APP, env=env, log_dir=tmp_path):
        sender = _sender(monkeypatch, env)
        _round_trip(sender, tmp_path)
        _round_trip(sender, tmp_path)


def test_the_filesystem_transport_keeps_its_queues_under_the_var_folder(
    filesystem_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, var_dir: Path
) -> None:
    """No worker runs: a sent message waits as a file in the shared folder until one does."""
    sender = _sender(monkeypatch, filesystem_env)
    sender.send_task("inventory.echo", args=["/nonexistent", {}])
    inventory = queue_name("inventory", filesystem_env["STRANGLER_QUEUE_PREFIX"])
    waiting = list((var_dir / "broker" / "queue").glob(f"*.{inventory}.msg"))
    assert len(waiting) == 1


def test_a_worker_consumes_only_its_own_sides_queue(
    redis_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    prefix = redis_env["STRANGLER_QUEUE_PREFIX"]
    with running_worker("echo", app=ECHO_APP, env=redis_env, log_dir=tmp_path):
        sender = _sender(monkeypatch, redis_env)
        sender.send_task("monolith.relay_outbox")
        _round_trip(sender, tmp_path)  # sent after, so the worker has seen both
        client = redis.Redis.from_url(redis_env["CELERY_BROKER_URL"])
        try:
            assert client.llen(queue_name("monolith", prefix)) == 1
            assert client.llen(queue_name("inventory", prefix)) == 0
        finally:
            client.delete(queue_name("monolith", prefix))
            client.close()


def test_only_json_goes_on_the_wire(
    redis_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sender = _sender(monkeypatch, redis_env)
    with pytest.raises(EncodeError):
        sender.send_task("inventory.echo", args=["x", {"not": {1, 2}}])


def test_the_visibility_timeout_exceeds_every_retry_countdown(
    redis_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in redis_env.items():
        monkeypatch.setenv(key, value)
    visibility = make_celery("inventory").conf.broker_transport_options["visibility_timeout"]
    assert visibility == VISIBILITY_TIMEOUT_S

    # Imported here, with a scratch var folder: the worker modules build their apps on import.
    from sync import inventory_worker, monolith_worker, orders_worker, payments_worker

    countdowns = []
    apps = (monolith_worker.app, inventory_worker.app, payments_worker.app, orders_worker.app)
    for app in apps:
        for name, task in app.tasks.items():
            if name.startswith(("monolith.", "inventory.", "payments.", "orders.")):
                countdowns.append(task.default_retry_delay)
                if getattr(task, "retry_backoff", False):
                    countdowns.append(task.retry_backoff_max)  # type: ignore[attr-defined]
    assert len(countdowns) >= 8
    assert max(countdowns) <= MAX_RETRY_COUNTDOWN_S < visibility


def test_every_app_is_configured_for_at_least_once(
    redis_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in redis_env.items():
        monkeypatch.setenv(key, value)
    for name in ("monolith", "inventory", "payments", "orders", "relay", "strangler-cli"):
        conf = make_celery(name).conf
        assert conf.task_acks_late is True, name
        assert conf.task_reject_on_worker_lost is True, name
        assert conf.worker_prefetch_multiplier == 1, name
        assert conf.broker_transport_options["visibility_timeout"] > MAX_RETRY_COUNTDOWN_S, name


def test_a_visibility_timeout_within_the_retry_countdown_is_refused(
    redis_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in redis_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("STRANGLER_BROKER_VISIBILITY_TIMEOUT_S", str(MAX_RETRY_COUNTDOWN_S))
    with pytest.raises(BrokerSettingsError, match="must be longer than the longest retry"):
        make_celery("inventory")
    monkeypatch.setenv("STRANGLER_BROKER_VISIBILITY_TIMEOUT_S", str(MAX_RETRY_COUNTDOWN_S + 1))
    options = make_celery("inventory").conf.broker_transport_options
    assert options["visibility_timeout"] == MAX_RETRY_COUNTDOWN_S + 1


#: Keyword arguments that make a broker message wait before it runs (held unacked by a worker).
_DELAYS = {"countdown", "eta", "default_retry_delay", "retry_backoff_max"}


def _delays_in_code() -> list[tuple[str, str]]:
    """Every delay keyword passed anywhere in the sync code and the subscribers, as source."""
    found = []
    for folder in ("sync", "extracted", "monolith"):
        for path in (REPO_ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call):
                    for kw in node.keywords:
                        if kw.arg in _DELAYS:
                            found.append((f"{path.name}:{node.lineno}", ast.unparse(kw.value)))
                elif isinstance(node, ast.Dict):
                    for key, value in zip(node.keys, node.values, strict=True):
                        if isinstance(key, ast.Constant) and key.value in _DELAYS:
                            found.append((f"{path.name}:{node.lineno}", ast.unparse(value)))
    return found


#: Delays computed at run time, by source text, each from a function that caps it at
#: MAX_RETRY_COUNTDOWN_S (checked below).
_CAPPED_AT_RUN_TIME = {
    "countdown or None",  # sync.backfill_pace.throttle_countdown (the throttle)
    # sync.backfill_pace.stagger (the start of a throttled job's chains, one after another)
    "stagger(number, page_size, rows_per_s)",
    "stagger(number, page_size, rows_per_s) or None",
}


def test_no_delay_in_the_code_reaches_the_visibility_timeout() -> None:
    """Every countdown, ETA or retry delay in the code is a literal within the cap, the cap
    itself, or a value from a function that caps it, so the visibility timeout (checked above to
    exceed the cap) exceeds them all."""
    delays = _delays_in_code()
    assert delays, "the scan found nothing: it would pass whatever the code does"
    for where, value in delays:
        if value != "MAX_RETRY_COUNTDOWN_S" and value not in _CAPPED_AT_RUN_TIME:
            assert float(value) <= MAX_RETRY_COUNTDOWN_S, f"{where}: delay {value}"
    # The throttle's wait for a page a day long at one row a second still stays under the cap.
    assert throttle_countdown(86_400, 1.0, time.time()) == MAX_RETRY_COUNTDOWN_S
    # ... and so does the start of the last of many chains of day-long pages.
    assert stagger(64, 86_400, 1.0) == MAX_RETRY_COUNTDOWN_S


def test_the_relay_sends_every_capability_to_a_batch_task_its_worker_registers(
    redis_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in redis_env.items():
        monkeypatch.setenv(key, value)
    from sync import inventory_worker, orders_worker, payments_worker

    workers: dict[Capability, Celery] = {
        "inventory": inventory_worker.app,
        "payments": payments_worker.app,
        "orders": orders_worker.app,
    }
    assert set(EVENT_BATCH_TASKS) == set(CAPABILITY_AGGREGATES) == set(workers)
    assert sorted(RELAYED_AGGREGATES) == sorted(
        aggregate for aggregates in CAPABILITY_AGGREGATES.values() for aggregate in aggregates
    )
    for capability, app in workers.items():
        assert EVENT_BATCH_TASKS[capability] == f"{capability}.apply_events"
        assert {f"{capability}.apply_event", f"{capability}.apply_events"} <= set(app.tasks)
    for aggregate, task in EVENT_TASKS.items():
        assert task.endswith(".apply_event") and task.split(".")[0] in workers, aggregate


def test_every_backfill_job_is_sent_to_tasks_its_owner_registers(
    redis_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in redis_env.items():
        monkeypatch.setenv(key, value)
    from sync import inventory_worker, orders_worker, payments_worker

    workers: dict[Capability, Celery] = {
        "inventory": inventory_worker.app,
        "payments": payments_worker.app,
        "orders": orders_worker.app,
    }
    for job in JOBS.values():
        tasks = set(workers[job.capability].tasks)
        assert {job.batch_task, job.copy_task, job.ranges_task} <= tasks, job.name
        assert job.batch_task.split(".")[0] == job.capability  # routed to the owner's queue
        assert job.aggregate_type in CAPABILITY_AGGREGATES[job.capability]

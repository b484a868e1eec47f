"""``sync.celery_app`` against a real worker process, on real Redis and on the filesystem
transport."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis
from celery import Celery
from kombu.exceptions import EncodeError

from sync.celery_app import (
    MAX_RETRY_COUNTDOWN_S,
    VISIBILITY_TIMEOUT_S,
    make_celery,
    queue_name,
)
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
    from sync import inventory_worker, monolith_worker

    countdowns = []
    for app in (monolith_worker.app, inventory_worker.app):
        for name, task in app.tasks.items():
            if name.startswith(("monolith.", "inventory.")):
                countdowns.append(task.default_retry_delay)
                if getattr(task, "retry_backoff", False):
                    countdowns.append(task.retry_backoff_max)  # type: ignore[attr-defined]
    assert len(countdowns) >= 4
    assert max(countdowns) <= MAX_RETRY_COUNTDOWN_S < visibility

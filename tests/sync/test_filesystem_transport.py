"""The embedded broker's put (``sync.filesystem_transport``): a consumer never takes a message
that is still being written, even while it polls the folder as fast as it can."""

from __future__ import annotations

import threading
from pathlib import Path
from queue import Empty
from typing import Any

import pytest
from kombu import Connection

from sync.celery_app import make_celery
from sync.filesystem_transport import PARTIAL_SUFFIX, Transport


def _connection(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Connection:
    """A connection as the deployment's processes open it (``make_celery``'s broker settings)."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    connection: Connection = make_celery("test-transport").connection_for_write()
    return connection


def test_the_embedded_broker_uses_the_atomic_put(
    filesystem_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with _connection(monkeypatch, filesystem_env) as connection:
        assert isinstance(connection.transport, Transport)


def test_a_message_still_being_written_is_not_taken(
    filesystem_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, var_dir: Path
) -> None:
    with _connection(monkeypatch, filesystem_env) as connection:
        queue = connection.SimpleQueue("atomic-put")
        queue.put({"n": 1})
        folder = var_dir / "broker" / "queue"
        (written,) = folder.glob("*.atomic-put.msg")
        assert not list(folder.glob(f"*{PARTIAL_SUFFIX}"))
        # A writer caught between its open and its rename: half a message under the .part name.
        half = written.read_bytes()[:5]
        partial = folder / f"1_writer.atomic-put.msg{PARTIAL_SUFFIX}"
        partial.write_bytes(half)

        assert queue.get(timeout=1).payload == {"n": 1}
        assert queue.qsize() == 0
        with pytest.raises(Empty):
            queue.get(timeout=0.3)
        assert partial.read_bytes() == half  # left alone for its writer to finish
        queue.close()


def test_a_fast_poller_receives_every_message_whole(
    filesystem_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writer and taker race on the same folder; every message arrives once and complete."""
    count = 3000
    errors: list[BaseException] = []

    def write() -> None:
        try:
            with _connection(monkeypatch, filesystem_env) as connection:
                queue = connection.SimpleQueue("race")
                for n in range(count):
                    queue.put({"n": n, "body": "x" * 200})
                queue.close()
        except BaseException as exc:  # reported by the test below
            errors.append(exc)

    writer = threading.Thread(target=write)
    with _connection(monkeypatch, filesystem_env) as connection:
        queue = connection.SimpleQueue("race")
        writer.start()
        received: list[dict[str, Any]] = []
        while len(received) < count:
            message = queue.get(timeout=30)
            received.append(message.payload)
            message.ack()
        queue.close()
    writer.join(timeout=30)
    assert not errors
    assert sorted(item["n"] for item in received) == list(range(count))
    assert all(item["body"] == "x" * 200 for item in received)

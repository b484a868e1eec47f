"""Await a condition instead of sleeping for a guessed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class ConditionTimeout(AssertionError):
    pass


def wait_for(
    condition: Callable[[], T],
    *,
    timeout: float = 20.0,
    interval: float = 0.05,
    message: str = "condition",
) -> T:
    """Call ``condition`` until it returns a truthy value (returned) or ``timeout`` passes.

    Exceptions raised by ``condition`` count as "not yet"; the last one is reported on timeout.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    last_value: object = None
    while True:
        try:
            value = condition()
            if value:
                return value
            last_value = value
        except Exception as err:
            last_error = err
        if time.monotonic() >= deadline:
            detail = f"last error: {last_error!r}" if last_error else f"last value: {last_value!r}"
            raise ConditionTimeout(f"timed out after {timeout}s waiting for {message} ({detail})")
        time.sleep(interval)

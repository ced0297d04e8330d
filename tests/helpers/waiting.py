"""One way to wait in a test: `eventually(predicate)` polls until it returns something truthy."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(predicate: Callable[[], T], timeout: float = 30.0, what: str = "the condition",
               interval: float = 0.05) -> T:
    """Call `predicate` every `interval` seconds until it returns a truthy value, and return that value.

    An exception from `predicate` counts as "not yet" (a page element being redrawn, a log file not written
    yet). After `timeout` seconds: AssertionError naming `what` and the last value or exception seen.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = predicate()
        except Exception as exc:  # noqa: BLE001 - retried until the deadline, then reported
            value, last = None, exc
        else:
            if value:
                return value
            last = value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}; last: {last!r:.500}")
        time.sleep(interval)

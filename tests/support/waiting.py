"""How integration tests wait: for a condition, with a deadline, and a failure that says what
was seen.

A bare "timed out" tells the next engineer nothing about a run they cannot repeat, so every
wait names what it waited for and, at the deadline, prints what it last saw (lag per
partition, readiness, the last log lines). A service that exits while it is waited for fails
the wait at once instead of at the deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol, TypeVar

T = TypeVar("T")


class Watched(Protocol):
    """A process a wait depends on: it must stay up, and its log explains a failure."""

    def running(self) -> bool: ...

    def tail(self, lines: int = 40) -> str: ...


def wait_until(check: Callable[[], T], what: str, timeout_s: float,
               seen: Callable[[], str] = lambda: "", service: Watched | None = None,
               interval_s: float = 0.2) -> T:
    """Call ``check`` until it returns something truthy, and return that. At the deadline,
    or when ``service`` has exited, fail with ``what``, ``seen()`` and the service's log."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        exited = service is not None and not service.running()
        if exited or time.monotonic() > deadline:
            problem = "the service exited" if exited else f"not within {timeout_s:g} s"
            detail = [f"waited for {what}: {problem}"]
            if (saw := seen()):
                detail.append(f"last seen: {saw}")
            if service is not None:
                detail.append(f"--- last log lines ---\n{service.tail(120)}")
            raise AssertionError("\n".join(detail))
        time.sleep(interval_s)

"""One log line per condition per interval: what keeps an outage from flooding the logs.

While the broker is away, the Kafka client logs the same warning for every request it
retries: one GSP wrote 129,298 lines (13.3 MB) in a 24 s outage. :class:`RepeatLimit`, on every
handler of the root logger, lets the first warning or error of a condition (logger, level,
message template) through, drops its repeats for ``interval_s``, and then lets the next one
through with the count of those it dropped. Info and debug lines pass untouched.

What it drops is still counted: ``gim_log_messages_total{logger, level, logged}`` (every
service serves it, :func:`collector`) counts each warning and error, ``logged="false"`` for
the repeats kept out of the log, so an alert or a graph sees the whole flood. The labels are
the logger and the level, not the message template, which may hold free text.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

INTERVAL_S = 30.0


class RepeatLimit(logging.Filter):
    def __init__(self, interval_s: float = INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval_s, self.clock = interval_s, clock
        self.conditions: dict[tuple[str, int, str], tuple[float, int]] = {}
        self.counted: Counter[tuple[str, str, bool]] = Counter()  # (logger, level, logged)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        decided: bool | None = getattr(record, "gim_repeat_limit", None)
        if decided is None:  # the first of the root's handlers to see it decides for all
            decided = self._decide(record)
            record.gim_repeat_limit = decided
            self.counted[record.name, record.levelname.lower(), decided] += 1
        return decided

    def _decide(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, str(record.msg))
        now = self.clock()
        since, dropped = self.conditions.get(key, (-self.interval_s, 0))
        if now - since < self.interval_s:
            self.conditions[key] = (since, dropped + 1)
            return False
        self.conditions[key] = (now, 0)
        if dropped:
            record.msg = f"{record.msg} ({dropped} more like this in the last " \
                         f"{now - since:.0f} s not logged)"
        return True


def install(limit: RepeatLimit | None = None) -> None:
    """Put one limit on every handler of the root logger (again after a library replaced
    them: Faust's worker sets up logging of its own)."""
    limit = limit or _SHARED
    for handler in logging.root.handlers:
        if not any(isinstance(f, RepeatLimit) for f in handler.filters):
            handler.addFilter(limit)


class _Counts(Collector):
    def __init__(self, limit: RepeatLimit) -> None:
        self.limit = limit

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "gim_log_messages", "Warnings and errors by logger and level; logged=false: "
            "repeats of a condition kept out of the log", labels=["logger", "level", "logged"])
        # A copy first: other threads log meanwhile.
        for (logger, level, logged), count in sorted(list(self.limit.counted.items())):
            family.add_metric([logger, level, str(logged).lower()], count)
        yield family


def collector(limit: RepeatLimit | None = None) -> Collector:
    """The counts of ``limit`` (the one :func:`install` puts on) as a Prometheus collector."""
    return _Counts(limit or _SHARED)


_SHARED = RepeatLimit()

"""How often Python's cycle collector runs in a worker that holds many objects.

A GSP worker keeps tens of thousands of decoded states and makes several objects per event,
almost none of them in reference cycles. With the default thresholds (700, 10, 10) the
collector ran so often, and its full passes over so large a heap, that after a
million-event day the transforms took 35 µs per event instead of 23 (the next day, in one
process, ``bench/transforms.py``'s source); docs/gsp.md, "Transforms". Cycles are still
collected, a few million allocations later.
"""

from __future__ import annotations

import gc

THRESHOLDS = (100_000, 50, 100)


def collect_less() -> None:
    """Raise the collector's thresholds, and leave out of its passes what exists now (the
    code and configuration a worker built before it started: never garbage)."""
    gc.set_threshold(*THRESHOLDS)
    gc.freeze()

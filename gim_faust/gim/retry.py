"""What the loader's retry loop (``Loader.with_retry`` in :mod:`gim_faust.gim.worker`) returns
when it stopped trying.

The loop itself stays on the loader, whose readiness and ``gim_loader_db_*`` metrics it sets;
its stop value lives apart so that the rebalance listener (:mod:`gim_faust.gim.rebalance`),
which the worker imports, can tell a stop from a result without importing the worker.
"""

from __future__ import annotations


class GaveUp:
    """What a retry loop returns when it stopped trying (a stop was requested)."""


GAVE_UP = GaveUp()

"""The GSP's lz4 batches compressed in lz4's fast mode, not aiokafka's high-compression one.

aiokafka 0.14.0 compresses every lz4 record batch at level 9, lz4's high-compression mode
(``aiokafka.codec.lz4_encode``; the producer has no setting for it). On the GSP's own
output, a batch of 60 agent states (its changelog records, 7-10 KB of JSON each), level 9
made 72 MB/s and level 1 800 MB/s: 158 µs of compression per state against 14, for a
ratio of 4.98 against 4.06 (2026-12-07, 2 cores). In the freshness run, level 9 was a tenth
of the GSP's event-loop time. The loader reads both alike: the level changes only how hard
the compressor searches, not the format.

The record builders imported the function by name, so each module's own reference is
replaced, for exactly the pinned aiokafka (``PATCHED_FOR``; a unit test fails when the
installed aiokafka differs).
"""

from __future__ import annotations

import functools

from aiokafka import codec
from aiokafka.record import default_records, legacy_records
from aiokafka.record._crecords import default_records as c_default_records

PATCHED_FOR = "0.14.0"
LEVEL = 1
# Every module that calls lz4_encode when it builds a batch: the C record builder aiokafka
# uses when it is compiled, its pure-Python twin, and the pre-0.11 message format.
_BUILDERS = (c_default_records, default_records, legacy_records)


def install() -> None:
    """Make every record builder compress lz4 at :data:`LEVEL` (idempotent)."""
    fast = functools.partial(codec.lz4_encode, level=LEVEL)
    for module in _BUILDERS:
        if not isinstance(module.lz4_encode, functools.partial):
            module.lz4_encode = fast

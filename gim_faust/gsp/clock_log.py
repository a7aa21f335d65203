"""Where an interaction partition's event-time clock stood at the end of each batch since
its last commit, kept in the partition's own state.

Why: a batch's states are written key by key, so a worker killed in the middle of that
leaves some keys ahead of the committed offset and others not. Replaying from the commit
is harmless for each key (its events are deduplicated), but a clock rebuilt from the states
would stand at the newest of them, ahead of the records being replayed, and would time out
interactions whose next events are among those records. The clock restarts instead from
where it stood at the committed offset, which is always the end of a batch.

An entry is ``[end offset, watermark ms, swept ms]``. The log lives under :data:`KEY` of the
interactions table, so it moves with the partition's state through the changelog, a
snapshot or a rebalance.
"""

from __future__ import annotations

import orjson

# No interaction id can be this key: ids are JSON strings, stored as UTF-8, which never
# holds the byte 0xFF.
KEY = b"\xff\xffclock"

Entry = list[int]


def entries(raw: bytes | None) -> list[Entry]:
    return [] if raw is None else orjson.loads(raw)


def at(log: list[Entry], committed: int | None) -> tuple[int, int] | None:
    """(watermark, swept) at the committed offset; ``None`` when the log does not know
    (state written before the log existed)."""
    if not committed:
        return 0, 0  # nothing committed: the partition is read from its start
    for end, watermark, swept in log:
        if end == committed:
            return watermark, swept
    return None


def added(log: list[Entry], entry: Entry, committed: int | None) -> bytes:
    """The log with ``entry`` added and the entries before the commit dropped."""
    kept = [e for e in log if committed is None or e[0] >= committed]
    return orjson.dumps([*kept, entry])

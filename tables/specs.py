"""The Faust tables of the Stream Processor and how their RocksDB stores are sized.

Per channel (``voice``, ``digital``) the GSP keeps three changelog-backed tables, each
co-partitioned with the topic whose agent writes it:

- ``interactions-<channel>``: interaction id -> open interaction, or its tombstone for the
  deduplication window;
- ``agents-<channel>``: agent login -> sessions, states and the after-call-work join;
- ``party-facts-<channel>``: party id -> the ended party row the join may re-emit.

Faust's RocksDB defaults give every partition a 2 GiB block cache and 3 x 64 MiB write
buffers; with a dozen partitions that would claim the machine. These options bound one
partition's store to roughly 16 MiB cache + 2 x 8 MiB buffers, so 3 tables x 2 channels x
6 partitions stay under 1.2 GiB at worst on a 24 GiB machine shared with Kafka and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast

import faust
from faust.types import TableT

if TYPE_CHECKING:
    from faust.stores.rocksdb import Store

ROCKSDB_OPTIONS: dict[str, Any] = {
    "write_buffer_size": 8 * 1024**2,
    "max_write_buffer_number": 2,
    "target_file_size_base": 16 * 1024**2,
    "block_cache_size": 16 * 1024**2,
    "bloom_filter_size": 10,
    "max_open_files": 256,
}
TABLES = ("interactions", "agents", "party-facts")


def table_name(kind: str, channel: str) -> str:
    """``interactions-voice``, ...: one of :data:`TABLES` for one channel."""
    return f"{kind}-{channel}"


def state_table(app: faust.App, name: str, partitions: int, help: str) -> TableT[bytes, bytes]:
    """A raw-bytes table (bytes types make Faust use its raw codec): the values are encoded
    by ``tables/state_codec.py``."""
    return app.Table(name, default=None, partitions=partitions, key_type=bytes,
                     value_type=bytes, options=ROCKSDB_OPTIONS, help=help)


def stored(table: TableT[bytes, bytes], key: bytes) -> bytes | None:
    """What ``table`` holds for ``key`` in the current event's partition, or None, read
    from its store: one RocksDB read, where the table's own ``get`` makes two (whether the
    key is there, then its value) besides its sensors' hooks, which the GSP does not use."""
    value: bytes | None = table.data.get(key)
    return value


def partition_items(table: TableT[bytes, bytes], partition: int) -> Iterator[tuple[bytes, bytes]]:
    """Every key and value one partition of ``table`` holds locally.

    Faust's own iteration spans all partitions and cannot tell them apart; the timeout sweep
    must touch only the partition of the event it runs in, since a table write goes to the
    changelog partition of the current event.
    """
    store = cast("Store", table.data)  # the app's store is "rocksdb://" (gsp/service.py)
    db = store._db_for_partition(partition)  # noqa: SLF001 (no public per-partition view)
    for key, value in db.items():
        if key != store.offset_key:  # where Faust keeps the changelog offset it has applied
            yield key, value

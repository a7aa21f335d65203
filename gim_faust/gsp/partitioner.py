"""Kafka's default partitioner, with each key's hash remembered and computed a block at a time.

The GSP sends the same keys again and again (a fact row's versions, an agent's ended
parties, a state key's changelog records), and aiokafka's murmur2 is pure Python, a byte at
a time: it was 5 % of the worker's samples, and still 5 % on a backlog, where most fact keys
are new to the cache. The partition of a key is exactly the default one (Java's
``Utils.murmur2``, positive, modulo the partition count), which the party-ended topic depends
on (it must meet the agent topic's partitioning) and the loader too (all versions of a fact
row in one partition, docs/loader.md).
"""

from __future__ import annotations

from functools import lru_cache
from struct import unpack_from

from aiokafka.partitioner import DefaultPartitioner

_default = DefaultPartitioner()
_SEED, _M, _MASK = 0x9747B28C, 0x5BD1E995, 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 of ``data``, reading its whole 4-byte words at once."""
    length = len(data)
    h = _SEED ^ length
    for k in unpack_from(f"<{length // 4}I", data):
        k = (k * _M) & _MASK
        k = ((k ^ (k >> 24)) * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    rest = length & 3
    if rest:
        tail = length & ~3
        if rest == 3:
            h ^= data[tail + 2] << 16
        if rest >= 2:
            h ^= data[tail + 1] << 8
        h = ((h ^ data[tail]) * _M) & _MASK
    h = ((h ^ (h >> 13)) * _M) & _MASK
    return h ^ (h >> 15)


@lru_cache(maxsize=200_000)
def _positive_hash(key: bytes) -> int:
    return murmur2(key) & 0x7FFFFFFF


def of(key: bytes, count: int) -> int:
    """The partition of a keyed message on a topic of ``count`` partitions."""
    return _positive_hash(key) % count


def partition(key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
    """The producer's partitioner (aiokafka's signature)."""
    if key is None:
        return _default(key, all_partitions, available)
    return all_partitions[of(key, len(all_partitions))]

"""Kafka's default partitioner, with each key's hash remembered.

The GSP sends the same keys again and again (a fact row's versions, an agent's ended
parties, a state key's changelog records), and aiokafka's murmur2 is pure Python: it was 5 %
of the worker's samples. The partition of a key is exactly the default one, which the
party-ended topic depends on (it must meet the agent topic's partitioning).
"""

from __future__ import annotations

from functools import lru_cache

from aiokafka.partitioner import DefaultPartitioner, murmur2

_default = DefaultPartitioner()


@lru_cache(maxsize=200_000)
def _positive_hash(key: bytes) -> int:
    return murmur2(key) & 0x7FFFFFFF


def partition(key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
    if key is None:
        return _default(key, all_partitions, available)
    return all_partitions[_positive_hash(key) % len(all_partitions)]

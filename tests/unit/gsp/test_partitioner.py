"""The GSP's partitioner gives every key the partition of Kafka's default partitioner."""

from __future__ import annotations

import random

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as reference_murmur2

from gim_faust.gsp.partitioner import murmur2, partition


def test_the_same_partition_as_the_default_for_every_key_and_count() -> None:
    default = DefaultPartitioner()
    keys = [f"interaction_fact:c-{i}".encode() for i in range(2000)] + [b"", b"5001", b"\xff"]
    for count in (1, 3, 6, 7):
        partitions = list(range(count))
        for key in keys * 2:  # the second time from the remembered hash
            assert partition(key, partitions, partitions) == default(key, partitions, partitions)


def test_a_message_without_key_goes_to_an_available_partition() -> None:
    assert partition(None, [0, 1, 2], [2]) == 2


def test_murmur2_is_kafkas_for_every_length_and_byte() -> None:
    """Every tail length (0 to 3 bytes past the words) and every byte value, against the
    reference implementation aiokafka ships."""
    rng = random.Random(17)
    keys = [bytes(rng.randrange(256) for _ in range(length))
            for length in range(70) for _ in range(20)] + [bytes(range(256)), b"\xff" * 7]
    for key in keys:
        assert murmur2(key) == reference_murmur2(key), key

"""The GSP's partitioner gives every key the partition of Kafka's default partitioner."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner

from gim_faust.gsp.partitioner import partition


def test_the_same_partition_as_the_default_for_every_key_and_count() -> None:
    default = DefaultPartitioner()
    keys = [f"interaction_fact:c-{i}".encode() for i in range(2000)] + [b"", b"5001", b"\xff"]
    for count in (1, 3, 6, 7):
        partitions = list(range(count))
        for key in keys * 2:  # the second time from the remembered hash
            assert partition(key, partitions, partitions) == default(key, partitions, partitions)


def test_a_message_without_key_goes_to_an_available_partition() -> None:
    assert partition(None, [0, 1, 2], [2]) == 2

"""Consumer lag from end offsets and commits, as the tests' waits, the demo and the bench read
it."""

from __future__ import annotations

from aiokafka import TopicPartition

from gim_faust.kafka import uncommitted

A, B, C = (TopicPartition("t", p) for p in range(3))


def test_lag_per_partition_counts_from_the_commit() -> None:
    assert uncommitted({A: 10, B: 5, C: 7}, {A: 4, B: 5, C: -1}) == {A: 6, B: 0, C: 7}


def test_a_commit_past_a_stale_end_does_not_hide_another_partitions_lag() -> None:
    """B's end was read before its newest messages were committed: B has nothing left, and A
    is still 2 behind; a plain difference would sum to 0, "caught up"."""
    lags = uncommitted({A: 10, B: 5}, {A: 8, B: 7})
    assert lags == {A: 2, B: 0} and sum(lags.values()) == 2

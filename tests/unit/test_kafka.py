"""Kafka helpers without a broker: consumer lag from end offsets and commits (the tests'
waits, the demo and the bench read it), and when a created topic counts as ready."""

from __future__ import annotations

from aiokafka import TopicPartition

from gim_faust.kafka import _unready, uncommitted

A, B, C = (TopicPartition("t", p) for p in range(3))


def test_lag_per_partition_counts_from_the_commit() -> None:
    assert uncommitted({A: 10, B: 5, C: 7}, {A: 4, B: 5, C: -1}) == {A: 6, B: 0, C: 7}


def test_a_commit_past_a_stale_end_does_not_hide_another_partitions_lag() -> None:
    """B's end was read before its newest messages were committed: B has nothing left, and A
    is still 2 behind; a plain difference would sum to 0, "caught up"."""
    lags = uncommitted({A: 10, B: 5}, {A: 8, B: 7})
    assert lags == {A: 2, B: 0} and sum(lags.values()) == 2


def test_a_topic_is_ready_once_every_partition_has_a_leader() -> None:
    """Right after creation a topic can be described without partitions, or with a
    partition that has no leader yet; a client that took that view kept it."""
    def topic(name: str, *leaders: int, error: int = 0) -> dict[str, object]:
        return {"topic": name, "error_code": error,
                "partitions": [{"partition": p, "leader": leader}
                               for p, leader in enumerate(leaders)]}
    described = [topic("ready", 1, 1, 1), topic("empty"), topic("electing", 1, -1),
                 topic("missing", error=3)]
    assert _unready(described) == {"empty", "electing", "missing"}

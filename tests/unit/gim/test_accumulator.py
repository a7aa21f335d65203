"""The loader's batch accumulator: positions, stale records, size and age, revocation."""

from __future__ import annotations

from datetime import datetime, timezone

from gim_faust.gim.accumulator import Accumulator
from gim_faust.models.facts import InteractionFact

T0 = datetime(2026, 11, 2, 9, tzinfo=timezone.utc)
A, B = ("t.gsp.facts", 0), ("t.gsp.facts", 1)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def fact(n: int) -> InteractionFact:
    return InteractionFact(f"call-{n}", 1, 1, T0, None, 1793610000, None, None, "ACTIVE", 1, 1)


def test_records_of_unassigned_partitions_and_before_the_position_are_refused() -> None:
    acc = Accumulator(100, 0.5)
    assert not acc.add(A, 0, fact(0))           # not assigned yet
    acc.assign({A: 10})
    assert not acc.add(A, 9, fact(9))           # before the database's offset: stale
    assert acc.add(A, 10, fact(10))
    assert not acc.add(A, 10, fact(10))         # the same record again (a refetch)
    assert acc.add(A, 12, fact(12))             # gaps are normal (transaction markers)
    assert acc.records == 2
    batch = acc.batch()
    assert batch.offsets == {A: 13} and batch.first_offsets == {A: 10}
    assert [f.interaction_id for f in batch.facts] == ["call-10", "call-12"]


def test_bad_records_count_and_advance_the_offsets() -> None:
    acc = Accumulator(100, 0.5)
    acc.assign({A: 0, B: 0})
    acc.add(A, 0, None)
    acc.add(B, 0, fact(1))
    batch = acc.batch()
    assert batch.bad_records == 1 and len(batch.facts) == 1
    assert batch.offsets == {A: 1, B: 1}


def test_due_by_size_or_by_the_age_of_the_first_record() -> None:
    clock = Clock()
    acc = Accumulator(3, 0.5, clock)
    acc.assign({A: 0})
    assert not acc.due() and acc.time_left() is None
    acc.add(A, 0, fact(0))
    clock.now += 0.3
    acc.add(A, 1, fact(1))
    assert not acc.due() and abs(acc.time_left() - 0.2) < 1e-9   # type: ignore[operator]
    assert acc.room == 1
    clock.now += 0.2
    assert acc.due()                              # 0.5 s after the first record
    acc.clear()
    assert not acc.due() and acc.records == 0
    for offset in (2, 3, 4):
        acc.add(A, offset, fact(offset))
    assert acc.due()                              # full, however young


def test_clear_keeps_positions() -> None:
    acc = Accumulator(10, 0.5)
    acc.assign({A: 0})
    acc.add(A, 0, fact(0))
    acc.clear()
    assert not acc.add(A, 0, fact(0))
    assert acc.add(A, 1, fact(1))
    assert acc.batch().first_offsets == {A: 1}


def test_revoking_drops_what_was_buffered_for_those_partitions() -> None:
    acc = Accumulator(10, 0.5)
    acc.assign({A: 0, B: 5})
    acc.add(A, 0, fact(0))
    acc.add(A, 1, None)
    acc.add(B, 5, fact(5))
    assert acc.revoke([A]) == 2
    assert acc.assigned == {B}
    batch = acc.batch()
    assert batch.offsets == {B: 6} and batch.bad_records == 0
    assert not acc.add(A, 2, fact(2))
    assert acc.revoke([B]) == 1
    assert acc.records == 0 and acc.time_left() is None


def test_reassigning_a_partition_restarts_it_at_the_given_offset() -> None:
    acc = Accumulator(10, 0.5)
    acc.assign({A: 0})
    acc.add(A, 0, fact(0))
    acc.add(A, 1, fact(1))
    acc.assign({A: 1})        # the database says 1: what was buffered is dropped
    assert acc.records == 0
    assert acc.add(A, 1, fact(1))
    assert acc.batch().offsets == {A: 2}

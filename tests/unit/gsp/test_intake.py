"""The engine's intake: whole fetches queued once per offset, nothing across an assignment."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from faust.types import TP

from gim_faust.gsp.intake import Intake

TP0, TP1, OTHER = TP("raw", 0), TP("raw", 1), TP("config", 0)


def _records(*offsets: int) -> list[SimpleNamespace]:
    return [SimpleNamespace(offset=o) for o in offsets]


def _offsets(chunks: list) -> list[tuple[int, int, list[int]]]:
    return [(c.tp.partition, c.start, [r.offset for r in c.records]) for c in chunks]


async def test_records_are_taken_once_from_where_the_partition_was_assigned() -> None:
    intake = Intake({"raw"})
    await intake.assign({TP0: 5, TP1: 0, OTHER: 3})
    assert intake.expected == {TP0: 5, TP1: 0}
    await intake.put(TP0, _records(3, 4, 5, 6), intake.epoch)
    await intake.put(TP0, _records(6, 7), intake.epoch)  # fetched again: 6 is a repeat
    await intake.put(TP1, _records(2, 3), intake.epoch)  # 0-1 hold no record: start says so
    assert _offsets(await intake.take(100)) == [(0, 5, [5, 6]), (0, 7, [7]), (1, 0, [2, 3])]
    assert intake.size == 0


async def test_a_take_stops_at_whole_chunks_within_its_limit() -> None:
    intake = Intake({"raw"})
    await intake.assign({TP0: 0, TP1: 0})
    await intake.put(TP0, _records(0, 1, 2), intake.epoch)
    await intake.put(TP1, _records(0, 1), intake.epoch)
    assert _offsets(await intake.take(4)) == [(0, 0, [0, 1, 2])]
    assert _offsets(await intake.take(1)) == [(1, 0, [0, 1])]  # one chunk however long


async def test_nothing_is_queued_while_closed_or_from_a_fetch_of_an_earlier_epoch() -> None:
    intake = Intake({"raw"})
    await intake.assign({TP0: 0})
    assert intake.repositions() == {TP0: 0}  # each assignment starts at the intake's offsets
    stale = intake.epoch
    await intake.put(TP0, _records(0, 1), stale)
    await intake.close()
    assert intake.size == 0
    await intake.put(TP0, _records(2), stale)  # closed: the next assign repositions it
    assert intake.repositions() == {}
    await intake.assign({TP0: 2})
    intake.repositions()
    await intake.put(TP0, _records(4, 5), stale)  # would skip 2-3 if taken
    assert intake.size == 0
    assert intake.repositions() == {TP0: 2}
    await intake.put(TP0, _records(2, 3), intake.epoch)
    assert _offsets(await intake.take(10)) == [(0, 2, [2, 3])]


async def test_records_the_consumer_could_not_hand_over_are_read_again() -> None:
    intake = Intake({"raw"})
    await intake.assign({TP0: 0, TP1: 0})
    intake.repositions()
    await intake.put(TP0, _records(0, 1), intake.epoch)
    intake.skip(TP0)  # e.g. the flow was stopped when 2-3 arrived
    intake.skip(OTHER)  # not the engine's: nothing to do
    assert intake.repositions() == {TP0: 2}
    assert intake.repositions() == {}


async def test_a_full_intake_holds_the_fetch_until_the_engine_takes() -> None:
    intake = Intake({"raw"}, limit=2)
    await intake.assign({TP0: 0})
    await intake.put(TP0, _records(0, 1), intake.epoch)
    waiting = asyncio.ensure_future(intake.put(TP0, _records(2), intake.epoch))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    await intake.take(10)
    await asyncio.wait_for(waiting, 1)
    assert intake.size == 1

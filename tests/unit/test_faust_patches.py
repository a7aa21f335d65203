"""The fixes to Faust's private parts (gim_faust/gsp/faust_patches.py), on the installed Faust."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from types import SimpleNamespace

import faust
from faust.transport.consumer import Consumer
from faust.types import TP
from intervaltree import IntervalTree

from gim_faust.gsp import faust_patches

PARTITION = TP("acme.voice.interactions", 1)


def test_the_patches_are_written_for_the_installed_faust() -> None:
    """They replace private code: a new Faust needs them checked again, then this bumped."""
    assert faust.__version__ == faust_patches.PATCHED_FOR


def _consumer(acked: list[int], committed: int | None) -> SimpleNamespace:
    """The state ``Consumer._new_offset`` reads, as a started worker holds it."""
    return SimpleNamespace(_acked={PARTITION: acked}, _acked_index={PARTITION: set(acked)},
                           _gap=defaultdict(IntervalTree),
                           _committed_offset=defaultdict(lambda: None, {PARTITION: committed}))


def test_offsets_acked_twice_are_committed_in_one_step() -> None:
    """As a restarted worker's list looked (kill -9 test): the first records of a partition
    delivered twice. Unpatched, Faust commits 860 here, then one or two more per commit."""
    faust_patches.install()
    consumer = _consumer([858, 859, 859, 860, 860, 861], committed=859)
    assert Consumer._new_offset(consumer, PARTITION) == 862
    assert consumer._acked[PARTITION] == []


def test_a_gap_still_holds_the_commit_back() -> None:
    faust_patches.install()
    consumer = _consumer([861, 862, 862], committed=859)   # 859 and 860 not acked yet
    assert Consumer._new_offset(consumer, PARTITION) is None
    assert consumer._acked[PARTITION] == [861, 862]


def test_a_partition_with_nothing_committed_is_read_from_its_start() -> None:
    """aiokafka seeks only where an offset above 0 is committed; a worker that kept a
    partition across a rebalance would otherwise go on from its old fetch position."""
    faust_patches.install()
    fresh, zero, done = TP("t", 0), TP("t", 1), TP("t", 2)
    seeks: list[tuple[TP, int]] = []

    async def seek_to_committed() -> dict[TP, int | None]:
        return {fresh: None, zero: 0, done: 42}

    async def seek(tp: TP, offset: int) -> None:
        seeks.append((tp, offset))

    consumer = SimpleNamespace(seek_to_committed=seek_to_committed, _seek=seek,
                               _read_offset={}, _committed_offset=defaultdict(lambda: None))
    asyncio.run(Consumer.perform_seek(consumer))
    assert seeks == [(fresh, 0), (zero, 0)]
    assert consumer._read_offset == {fresh: None, zero: None, done: 42}
    assert dict(consumer._committed_offset) == {done: 42}

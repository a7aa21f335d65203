"""The fixes to Faust's private parts (gim_faust/gsp/faust_patches.py), on the installed Faust."""

from __future__ import annotations

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

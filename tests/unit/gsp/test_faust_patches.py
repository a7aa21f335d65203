"""The fixes to Faust's private parts (gim_faust/gsp/faust_patches.py), on the installed Faust."""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from types import SimpleNamespace

import faust
from faust.transport.consumer import Consumer, ThreadDelegateConsumer
from faust.transport.producer import ProducerBuffer
from faust.types import TP
from intervaltree import IntervalTree

from gim_faust.gsp import faust_patches
from gim_faust.gsp.intake import Chunk, Intake

PARTITION = TP("acme.voice.interactions", 1)


def test_the_patches_are_written_for_the_installed_faust() -> None:
    """They replace private code: a new Faust needs them checked again, then this bumped."""
    assert faust.__version__ == faust_patches.PATCHED_FOR


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

    intake = Intake({"t"})
    consumer = SimpleNamespace(seek_to_committed=seek_to_committed, _seek=seek,
                               _read_offset={}, _committed_offset=defaultdict(lambda: None),
                               app=SimpleNamespace(gim_intake=intake))
    asyncio.run(Consumer.perform_seek(consumer))
    assert seeks == [(fresh, 0), (zero, 0)]
    assert consumer._read_offset == {fresh: None, zero: None, done: 42}
    assert dict(consumer._committed_offset) == {done: 42}
    assert intake.open and intake.expected == {fresh: 0, zero: 0, done: 42}


def test_a_seek_runs_on_the_consumer_thread() -> None:
    """aiokafka's fetcher is not safe to seek from another thread: Faust's consumer thread
    may be between listing its fetched records and deleting them."""
    faust_patches.install()
    ran_on: list[int] = []

    class ConsumerThread:
        """Runs what it is handed on a thread of its own, as Faust's consumer thread does."""

        async def call_thread(self, fun: object, *args: object) -> None:
            await asyncio.to_thread(fun, *args)  # type: ignore[arg-type]

        def seek(self, tp: TP, offset: int) -> None:
            ran_on.append(threading.get_ident())

    consumer = SimpleNamespace(_thread=ConsumerThread())
    asyncio.run(ThreadDelegateConsumer._seek(consumer, PARTITION, 7))  # type: ignore[arg-type]
    assert ran_on and ran_on[0] != threading.get_ident()


def _consumer(committed: int | None) -> SimpleNamespace:
    """The state ``Consumer._new_offset`` reads, as a started worker holds it."""
    return SimpleNamespace(_acked=defaultdict(list), _acked_index=defaultdict(set),
                           _gap=defaultdict(IntervalTree),
                           _committed_offset=defaultdict(lambda: None, {PARTITION: committed}))


def _chunk(start: int, *offsets: int) -> Chunk:
    return Chunk(PARTITION, start, [SimpleNamespace(offset=o) for o in offsets])


def test_done_chunks_are_committed_to_their_end_across_offsets_without_records() -> None:
    """Offsets 862-863 hold no record (say, transaction markers): the commit passes them."""
    consumer = _consumer(committed=859)
    faust_patches.done(consumer, _chunk(859, 859, 860, 861))
    faust_patches.done(consumer, _chunk(862, 864, 865))
    assert Consumer._new_offset(consumer, PARTITION) == 866


def test_a_chunk_not_done_holds_the_commit_back() -> None:
    consumer = _consumer(committed=859)
    faust_patches.done(consumer, _chunk(862, 862, 863))  # 859-861 still being handled
    assert Consumer._new_offset(consumer, PARTITION) is None
    faust_patches.done(consumer, _chunk(859, 859, 860, 861))
    assert Consumer._new_offset(consumer, PARTITION) == 864


def test_changelog_records_reach_the_client_in_order_whoever_flushes() -> None:
    """Two flushes at once (the engine's and the commit's), and a hand-over that yields:
    every record once, oldest first, and the buffer empty after either flush returns."""
    faust_patches.install()
    sent: list[int] = []

    class Channel:
        async def publish_message(self, fut: SimpleNamespace, wait: bool) -> None:
            await asyncio.sleep(0)
            sent.append(fut.n)

    async def run() -> None:
        buffer = ProducerBuffer()
        for n in range(50):
            buffer.put(SimpleNamespace(n=n, message=SimpleNamespace(channel=Channel())))
        await asyncio.gather(buffer.flush(), buffer.flush())
        assert not buffer._gim_queue  # noqa: SLF001

    asyncio.run(run())
    assert sent == list(range(50))

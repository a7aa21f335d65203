"""Fixes to faust-streaming 0.15.3 that the GSP's guarantees rest on, in one place.

Each one replaces a private part of Faust, so each is written for exactly the pinned version
(``PATCHED_FOR``; a unit test fails when the installed Faust differs) and is idempotent.

- **Changelog records handed over in order, by whoever flushes.** Faust queues every
  changelog write in its producer buffer, which a task of its own drains one record per
  event-loop turn, and flushes it before it commits an input offset; but its flush gives up
  after 100 ms with records still queued (``ProducerBuffer.flush_atmost``), so an offset
  could be committed ahead of the state it produced. And a batch writes thousands of keys
  in one synchronous step: the draining task fell behind, 87,000 records and 1 GB were
  queued on a 400,000-event backlog. The patched buffer keeps the records in a queue of its
  own that only ``flush`` empties, under a lock, oldest first, handing each to the Kafka
  client: the engine flushes at the end of every batch, Faust's commit before it commits
  (then flushes the client), so nothing is committed ahead of its changelog, the queue
  never holds more than one batch, and two records of one key never swap places.
- **A partition with nothing committed is read from its start.** After a rebalance Faust
  seeks every assigned partition to its committed offset, but aiokafka seeks only where an
  offset above 0 is committed and otherwise leaves the fetch position where it was. A worker
  that keeps a partition it read in the previous generation, whose commit at revocation was
  refused ("already rebalanced": Faust then forgets the acked offsets), went on from where
  it had fetched: what it had read was never acked again, so the group never committed it
  (two-worker test, 5 runs in 10: a whole partition, or the single message at the head).
  The patched seek puts such a partition at its first offset, as a new group starts;
  processing again what the state already holds is a duplicate and changes nothing. The
  same positions open the engine's intake (``gsp/intake.py``).
- **Whole fetches for the engine.** Records of the engine's topics are taken out of each
  fetch before Faust turns them into messages one by one, and queued in the intake
  (:func:`_fetches_to_the_intake`); Faust's agents see none of them. Before each fetch the
  loop seeks the partitions the intake is unsure of: a fetch runs alongside Faust's own
  seeks, and records it returned that were not queued (a fetch older than the assignment,
  flow stopped) would otherwise be gone from the fetch position for good (kill -9 test under
  load, 1 run in 4: a restarted worker stopped reading three partitions at their committed
  offsets). The engine marks what it
  has done with :func:`done`, the bookkeeping ``Consumer.ack`` keeps per message, so Faust's
  periodic commit (flush the producer, then commit) commits it.
- **Seeks on the consumer's own thread.** Faust runs aiokafka's consumer in a thread of its
  own, and every consumer call goes there (``call_thread``) except ``_seek``, which calls
  aiokafka's ``seek`` from the worker's thread. Only these fixes seek that way (after an
  assignment, and before each fetch), and aiokafka's seek deletes the partition's fetched
  records while the consumer thread may be between listing and deleting them in
  ``fetched_records``: a worker crashed with ``KeyError`` in aiokafka's fetcher right after
  joining a group of two (a freshness run, 2026-12-07). The patched ``_seek`` runs on the
  consumer thread, as Faust's other seeks do.
- **Settle before a revocation.** Faust forgets the acknowledged offsets of revoked
  partitions before it commits anything. The patched revocation first lets the engine end
  its current batch and commit it (``Engine.settle``), so the next owner of a partition starts
  where this worker stopped, with the state of exactly that point.

The engine is found as ``app.gim_engine``, its intake as ``app.gim_intake``; an app without
them is left as Faust runs it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any

from aiokafka.errors import IllegalStateError
from faust.transport.consumer import Consumer, ThreadDelegateConsumer, ensure_TP
from faust.transport.producer import ProducerBuffer
from faust.types import TP

from gim_faust.gsp.intake import Chunk

PATCHED_FOR = "0.15.3"


def install() -> None:
    """Apply every fix (call before the app starts)."""
    _changelog_in_order()
    _uncommitted_from_the_start()
    _fetches_to_the_intake()
    _seeks_on_the_consumer_thread()
    _settle_before_revoking()


def done(consumer: Any, chunk: Chunk) -> None:
    """Mark a chunk's offsets done, as ``Consumer.ack`` does per message: Faust's next
    commit goes up to its end once everything before is done too."""
    tp = chunk.tp
    committed = consumer._committed_offset[tp]  # noqa: SLF001
    index, acked = consumer._acked_index[tp], consumer._acked[tp]  # noqa: SLF001
    for offset in range(chunk.start if committed is None else max(chunk.start, committed),
                        chunk.end):
        if offset not in index:
            index.add(offset)
            acked.append(offset)


def kafka_producer(app: Any) -> Any:
    """The aiokafka producer inside Faust's, started: the engine hands it whole record
    batches (``gsp/record_batches.py``), which Faust's has no call for. Faust flushes this
    producer before each commit, so those batches are covered too."""
    producer = app.producer._producer  # noqa: SLF001
    assert producer is not None, "the worker's producer has not started"
    return producer


def committed(consumer: Any, tp: TP) -> int | None:
    """The offset committed for ``tp`` as far as this worker knows."""
    return consumer._committed_offset.get(tp)  # noqa: SLF001


def _changelog_in_order() -> None:
    if getattr(ProducerBuffer, "_gim_changelog_in_order", False):
        return
    hand_over = ProducerBuffer._send_pending  # noqa: SLF001

    def queue(self: Any) -> tuple[deque[Any], asyncio.Lock]:
        if "_gim_queue" not in self.__dict__:
            self._gim_queue, self._gim_lock = deque(), asyncio.Lock()
        return self._gim_queue, self._gim_lock

    def put(self: Any, fut: Any) -> None:
        queue(self)[0].append(fut)

    async def flush(self: Any) -> None:
        queued, lock = queue(self)
        async with lock:
            while queued:
                await hand_over(self, queued.popleft())

    ProducerBuffer.put = put  # type: ignore[method-assign]  # replacing it is the fix
    ProducerBuffer.flush = flush  # type: ignore[method-assign]  # replacing it is the fix
    ProducerBuffer._gim_changelog_in_order = True  # type: ignore[attr-defined]  # the fix's own flag


def _uncommitted_from_the_start() -> None:
    if getattr(Consumer, "_gim_uncommitted_from_the_start", False):
        return

    async def perform_seek(self: Any) -> None:
        committed = {ensure_TP(tp): offset for tp, offset in
                     (await self.seek_to_committed()).items()}
        for tp, offset in committed.items():
            if not offset:  # aiokafka left the position alone (None or 0 committed)
                await self._seek(tp, 0)  # out of range after retention: reset to earliest
        self._read_offset.update({tp: offset if offset else None
                                  for tp, offset in committed.items()})
        self._committed_offset.update({tp: offset for tp, offset in committed.items()
                                       if offset})
        intake = getattr(self.app, "gim_intake", None)
        if intake is not None:
            await intake.assign({tp: offset or 0 for tp, offset in committed.items()})

    Consumer.perform_seek = perform_seek  # type: ignore[method-assign]  # replacing it is the fix
    Consumer._gim_uncommitted_from_the_start = True  # type: ignore[attr-defined]  # the fix's own flag


def _fetches_to_the_intake() -> None:
    if getattr(Consumer, "_gim_fetches_to_the_intake", False):
        return
    fetch = Consumer._wait_next_records  # noqa: SLF001

    async def wait_next_records(self: Any, timeout: float) -> Any:
        intake = getattr(self.app, "gim_intake", None)
        if intake is None:
            return await fetch(self, timeout)
        epoch = intake.epoch  # before the seeks: an assign during them makes them unsure again
        for tp, offset in intake.repositions().items():
            with contextlib.suppress(IllegalStateError):  # revoked meanwhile
                await self._seek(tp, offset)
        records, active = await fetch(self, timeout)
        rest = {}
        for tp, fetched in (records or {}).items():
            if tp.topic not in intake.topics:
                rest[tp] = fetched
            elif self.flow_active and (active is None or tp in active):
                # As Faust's fetch loop records it, for its diagnostics and lag.
                self._read_offset[tp] = fetched[-1].offset
                await intake.put(tp, fetched, epoch)
            else:
                intake.skip(tp)
        return rest, active

    Consumer._wait_next_records = wait_next_records  # type: ignore[method-assign]  # replacing it is the fix  # noqa: SLF001
    Consumer._gim_fetches_to_the_intake = True  # type: ignore[attr-defined]  # the fix's own flag


def _seeks_on_the_consumer_thread() -> None:
    if getattr(ThreadDelegateConsumer, "_gim_seeks_on_the_consumer_thread", False):
        return

    async def _seek(self: Any, partition: TP, offset: int) -> None:
        await self._thread.call_thread(self._thread.seek, partition, offset)

    ThreadDelegateConsumer._seek = _seek  # type: ignore[method-assign]  # replacing it is the fix
    ThreadDelegateConsumer._gim_seeks_on_the_consumer_thread = True  # type: ignore[attr-defined]  # the fix's own flag


def _settle_before_revoking() -> None:
    if getattr(Consumer, "_gim_settle_before_revoking", False):
        return
    revoke = Consumer.on_partitions_revoked

    async def on_partitions_revoked(self: Any, revoked: set[TP]) -> None:
        engine = getattr(self.app, "gim_engine", None)
        if engine is not None:
            await engine.settle()
        await revoke(self, revoked)

    Consumer.on_partitions_revoked = on_partitions_revoked  # type: ignore[method-assign]  # replacing it is the fix
    Consumer._gim_settle_before_revoking = True  # type: ignore[attr-defined]  # the fix's own flag

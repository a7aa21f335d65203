"""Fixes to faust-streaming 0.15.3 that the GSP's guarantees rest on, in one place.

Each one replaces a private part of Faust, so each is written for exactly the pinned version
(``PATCHED_FOR``; a unit test fails when the installed Faust differs) and is idempotent.

- **Complete flush.** Faust queues every changelog write in its own producer buffer and
  flushes it before it commits an input offset, but its flush gives up after 100 ms with
  messages still queued (``ProducerBuffer.flush_atmost``): under load an offset could be
  committed ahead of the state it produced, and a crash or rebalance at that moment would
  lose the state. :func:`install` replaces it with a flush that returns only when the buffer
  is empty and no message is on its way to the Kafka client; the client flush that follows
  in Faust's commit then covers every changelog write of the committed events.
- **Commits that do not creep.** Faust commits up to the end of the first run of
  consecutive offsets in its list of acked offsets (``Consumer._new_offset``). That list can
  hold an offset twice, or one below the committed offset: after a start or a restart
  Faust delivers the first records of a partition again once it has sought to the committed
  offsets, and both deliveries are acked. Each repeat ends the run, so the commit then
  advanced by one or two offsets per commit interval: a restarted worker took minutes to
  commit a few hundred records it had long processed (kill -9 test, 2 runs in 20). The
  patched version drops the repeats and what is already committed before Faust computes the
  offset.
- **A partition with nothing committed is read from its start.** After a rebalance Faust
  seeks every assigned partition to its committed offset, but aiokafka seeks only where an
  offset above 0 is committed and otherwise leaves the fetch position where it was. A worker
  that keeps a partition it read in the previous generation, whose commit at revocation was
  refused ("already rebalanced": Faust then forgets the acked offsets), went on from where
  it had fetched: what it had read was never acked again, so the group never committed it
  (two-worker test, 5 runs in 10: a whole partition, or the single message at the head).
  The patched seek puts such a partition at its first offset, as a new group starts;
  processing again what the state already holds is a duplicate and changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from faust.transport.consumer import Consumer, ensure_TP
from faust.transport.producer import ProducerBuffer

PATCHED_FOR = "0.15.3"
# Changelog writes Faust may queue before it stops handing events to the agents until the
# queue is down again. Faust's 100 is less than one batch writes (``gsp/batch.py``), and each
# of those stops cost a wait per queued message.
CHANGELOG_BUFFER_MAX = 10_000


def install() -> None:
    """Apply every fix (call before the app starts)."""
    _complete_flush()
    _commits_without_repeats()
    _uncommitted_from_the_start()


def _complete_flush() -> None:
    if getattr(ProducerBuffer, "_gim_complete_flush", False):
        return
    hand_over = ProducerBuffer._send_pending  # noqa: SLF001

    async def send_pending(self: Any, fut: Any) -> None:
        # Counted before the first await, so no message is ever neither queued nor counted.
        self._gim_in_flight = getattr(self, "_gim_in_flight", 0) + 1
        try:
            await hand_over(self, fut)
        finally:
            self._gim_in_flight -= 1

    async def flush(self: Any) -> None:
        while self.size or getattr(self, "_gim_in_flight", 0):
            if self.state != "running":
                raise RuntimeError("Cannot flush: Producer not Running")
            self.message_sent.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.message_sent.wait(), timeout=0.1)

    ProducerBuffer._send_pending = send_pending  # noqa: SLF001
    ProducerBuffer.flush = flush
    ProducerBuffer.max_messages = CHANGELOG_BUFFER_MAX
    ProducerBuffer._gim_complete_flush = True


def _commits_without_repeats() -> None:
    if getattr(Consumer, "_gim_commits_without_repeats", False):
        return
    new_offset = Consumer._new_offset  # noqa: SLF001

    def without_repeats(self: Any, tp: Any) -> int | None:
        acked = self._acked[tp]
        if acked:
            committed = self._committed_offset[tp]
            acked[:] = sorted({offset for offset in acked
                               if committed is None or offset >= committed})
        return new_offset(self, tp)  # type: ignore[no-any-return]

    Consumer._new_offset = without_repeats  # noqa: SLF001
    Consumer._gim_commits_without_repeats = True


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

    Consumer.perform_seek = perform_seek
    Consumer._gim_uncommitted_from_the_start = True

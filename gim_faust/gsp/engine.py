"""The GSP's engine: what Kafka fetched, handled a batch at a time, and committed by its own rule.

One loop per worker, a Faust app task. The commit protocol, step by step:

1. Take every record the intake holds (``gsp/intake.py``), up to ``BATCH_MAX``: whole
   fetches of every assigned partition of the raw and party-ended topics.
2. Handle them in offset order per partition, each through its channel's handler (decode,
   reject bad input, the pure transforms over the batch's states, ``gsp/channel.py``); a
   state key is read once per batch.
3. End the batch: hand the output of all its routes (the newest version of each fact, the
   ended parties) to the Kafka client, a record batch per partition (``gsp/output.py``),
   and wait once until Kafka has acknowledged all of it, then write each changed state key
   once to its table's store and hand its changelog records, with those of the party rows
   the handlers stored, to the Kafka client, a record batch per partition
   (``gsp/changelog.py``; the partition clocks' log, written through Faust's table,
   through ``faust_patches``); the rejected records go out too.
4. Mark the batch's offsets done (``faust_patches.done``).
5. Faust's periodic commit flushes the producer (every output and changelog record
   acknowledged by Kafka), then commits the offsets marked done. Nothing is committed ahead
   of the output and state it produced.
6. On a revocation the engine settles first (``settle``): it takes no new batch, lets the
   current one end, and commits. The next owner of a partition starts where this worker
   stopped, with the state of exactly that point. If that commit is refused (the group has
   moved on), the next owner reads those records again; the states deduplicate them, and
   their output is in Kafka already (acknowledged before the states were written).

A batch that fails to end crashes the worker: nothing of it is marked done, and after the
restart its records come again. Except when one of its records may be the cause (a handler
raised, or Kafka refused a message as too large, ``Unprocessable``): then the batch is
aborted (its states, output and clocks forgotten, nothing written or marked done) and
handled again in parts, the record at fault alone when it is known, halves otherwise. A
record that fails a second time alone goes to the rejected topic with reason
``processing_error`` (contract events.md) and counts as done: one event never stops its
partition, nor makes the worker crash again at every restart. A failure of the worker's own
(a state it cannot read, Kafka unreachable) still crashes it: rejecting records would lose them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import faust
from aiokafka.errors import MessageSizeTooLargeError, RecordTooLargeError

from gim_faust.errors import FatalError, RetriableError
from gim_faust.gsp import faust_patches
from gim_faust.gsp.batch import Batch, Held, acting_for
from gim_faust.gsp.changelog import Changelog
from gim_faust.gsp.intake import Chunk, Intake
from gim_faust.gsp.output import acknowledged

log = logging.getLogger(__name__)

# Records per batch at most: the engine takes what has arrived, so under a light load a
# batch is one fetch; under a backlog this bounds the memory and the time between commits.
# 20,000 rather than 5,000: a key touched again and again is written once per batch, and
# a batch waits once for its acknowledgement (a million events end to end 12,251 -> 14,015
# events/s, peak RSS 415-432 MB per worker; docs/gsp.md).
BATCH_MAX = 20_000
# What Kafka answers about one message that it will never take, however often it is sent.
_REFUSED_MESSAGE = (MessageSizeTooLargeError, RecordTooLargeError)


@dataclass
class Route:
    """Where a topic's records go: the handler of one record, the batch it works on, and the
    two halves of that batch's end: ``send`` hands its output to the Kafka client (the
    delivery futures), ``write`` stores its states once Kafka has acknowledged the output."""

    handle: Callable[[Held, Batch], None]
    batch: Batch
    send: Callable[[Batch], Awaitable[list[Awaitable[Any]]]]
    write: Callable[[Batch], None]


class Shell(Protocol):
    """What the engine asks of the service around it."""

    async def after(self, chunks: list[Chunk]) -> None:
        """What else a batch's end sends (the rejected records), and its metrics; it runs
        after the routes' batches ended, before the offsets are done."""

    def abort(self, chunks: list[Chunk]) -> None:
        """Forget what handling these chunks did in memory; nothing of it was written."""

    def poisoned(self, record: Any, cause: BaseException) -> None:
        """Reject a record that failed twice with ``processing_error``."""


class Unprocessable(Exception):
    """A batch failed in a way one of its records may cause: ``record`` when it is known."""

    def __init__(self, record: Any | None) -> None:
        super().__init__("a record of the batch cannot be processed")
        self.record = record


class Engine:
    def __init__(self, app: faust.App, intake: Intake, routes: dict[str, Route],
                 shell: Shell, changelog: Changelog) -> None:
        self.app, self.intake, self.routes, self.shell = app, intake, routes, shell
        self.changelog = changelog
        self.lock = asyncio.Lock()

    async def run(self) -> None:
        while True:
            chunks = await self.intake.take(BATCH_MAX)
            async with self.lock:
                try:
                    await self.process(chunks)
                except Exception as exc:
                    await self.app.crash(exc)
                    raise

    async def process(self, chunks: list[Chunk]) -> None:
        """One batch taken from the intake, to its end (its offsets done)."""
        await self._isolating(chunks, tried=False)

    async def _isolating(self, chunks: list[Chunk], tried: bool) -> None:
        """Handle ``chunks`` as one batch; if a record may be at fault, again in parts.
        ``tried``: these chunks are one record that failed once already."""
        try:
            await self._handle(chunks)
            return
        except Unprocessable as failure:
            self.shell.abort(chunks)
            cause = failure.__cause__ or failure
            if tried:
                record = chunks[0].records[0]
                log.error("%s/%s/%s failed twice; rejected with processing_error",
                          record.topic, record.partition, record.offset, exc_info=cause)
                self.shell.poisoned(record, cause)
                await self._end(chunks, [])
                return
            parts = split(chunks, failure.record)
            log.warning("a batch of %d records failed (%r); handling it again in %d parts",
                        _count(chunks), cause, len(parts))
        for part, alone in parts:
            await self._isolating(part, alone)

    async def _handle(self, chunks: list[Chunk]) -> None:
        ending: dict[int, Route] = {}
        for chunk in chunks:
            route = self.routes[chunk.tp.topic]
            ending[id(route.batch)] = route
            handle, batch = route.handle, route.batch
            for record in chunk.records:
                event = Held(record)
                with acting_for(event):
                    try:
                        handle(event, batch)
                    except (FatalError, RetriableError):
                        raise
                    except Exception as exc:
                        raise Unprocessable(record) from exc
        await self._end(chunks, list(ending.values()))

    async def _end(self, chunks: list[Chunk], routes: list[Route]) -> None:
        """End the routes' batches, send what else the batch sent, mark its offsets done.
        The output of every route is sent before any is waited for: a batch of a trickle
        touches all four routes, and waiting for each in turn took four round trips (one
        wait for all is 30-40 ms a batch at 2,000 events/s on two shared cores)."""
        futures: list[Awaitable[Any]] = []
        try:
            for route in routes:
                futures += await route.send(route.batch)
            await acknowledged(futures)
        except _REFUSED_MESSAGE as exc:
            raise Unprocessable(None) from exc
        for route in routes:
            route.write(route.batch)
        await self.changelog.send()
        await self.shell.after(chunks)
        await self.app.producer.buffer.flush()  # the clocks' log, set through Faust's table
        for chunk in chunks:
            faust_patches.done(self.app.consumer, chunk)

    async def settle(self) -> None:
        """Before a revocation: end the current batch, take no other, commit."""
        await self.intake.close()
        async with self.lock:
            try:
                await self.app.consumer.commit()
            except Exception:  # noqa: BLE001 - the next owner reads it again; said below
                log.warning("commit before the revocation failed; the next owner of these "
                            "partitions handles their last records again", exc_info=True)


def split(chunks: list[Chunk], culprit: Any | None) -> list[tuple[list[Chunk], bool]]:
    """The parts to handle again, in order, each with whether it is one record that failed
    once already: around ``culprit`` when it is known, else in halves (one record is its own
    part). Each part starts where the one before ended, so the offsets between records
    (which hold none) are still accounted for."""
    if _count(chunks) == 1:
        return [(chunks, True)]
    if culprit is not None:
        at, index = next((i, j) for i, chunk in enumerate(chunks)
                         for j, record in enumerate(chunk.records) if record is culprit)
        before, alone, after = _cut(chunks[at], index, index + 1)
        parts = [([*chunks[:at], *before], False), (alone, True),
                 ([*after, *chunks[at + 1:]], False)]
    elif len(chunks) > 1:
        parts = [(chunks[:len(chunks) // 2], False), (chunks[len(chunks) // 2:], False)]
    else:
        first, second, _ = _cut(chunks[0], len(chunks[0].records) // 2,
                                len(chunks[0].records))
        parts = [(first, False), (second, False)]
    return [(part, alone) for part, alone in parts if part]


def _cut(chunk: Chunk, *at: int) -> list[list[Chunk]]:
    """``chunk`` cut before the records at these indexes: one list per piece (empty when
    the piece holds no record)."""
    pieces: list[list[Chunk]] = []
    start, begin = chunk.start, 0
    for end in (*at, len(chunk.records)):
        records: Sequence[Any] = chunk.records[begin:end]
        pieces.append([Chunk(chunk.tp, start, records)] if records else [])
        if records:
            start = int(records[-1].offset) + 1
        begin = end
    return pieces


def _count(chunks: list[Chunk]) -> int:
    return sum(len(chunk.records) for chunk in chunks)

"""The GSP's engine: what Kafka fetched, handled a batch at a time, and committed by its own rule.

One loop per worker, a Faust app task. The commit protocol, step by step:

1. Take every record the intake holds (``gsp/intake.py``), up to ``BATCH_MAX``: whole
   fetches of every assigned partition of the raw and party-ended topics.
2. Handle them in offset order per partition, each through its channel's handler (decode,
   reject bad input, the pure transforms over the batch's states, ``gsp/channel.py``); a
   state key is read once per batch.
3. End the batch: hand its output (the newest version of each fact, the ended parties) to
   the Kafka producer and wait until Kafka has acknowledged it, then write each changed
   state key once to its Faust table and hand the changelog records to the Kafka client
   (``faust_patches``); the rejected records go out too.
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
restart its records come again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import faust

from gim_faust.gsp import faust_patches
from gim_faust.gsp.batch import Batch, Held, acting_for
from gim_faust.gsp.intake import Chunk, Intake

log = logging.getLogger(__name__)

# Records per batch at most: the engine takes what has arrived, so under a light load a
# batch is one fetch; under a backlog this bounds the memory and the time between commits.
BATCH_MAX = 5000


@dataclass
class Route:
    """Where a topic's records go: the handler of one record, the batch it works on, and
    what ends that batch."""

    handle: Callable[[Held, Batch], None]
    batch: Batch
    finish: Callable[[Batch], Awaitable[None]]


class Engine:
    def __init__(self, app: faust.App, intake: Intake, routes: dict[str, Route],
                 after: Callable[[list[Chunk]], Awaitable[None]]) -> None:
        """``after``: what else a batch's end sends (the rejected records), and its
        metrics; it runs after the routes' batches ended, before the offsets are done."""
        self.app, self.intake, self.routes, self.after = app, intake, routes, after
        self.lock = asyncio.Lock()

    async def run(self) -> None:
        while True:
            chunks = await self.intake.take(BATCH_MAX)
            async with self.lock:
                try:
                    await self._handle(chunks)
                except Exception as exc:
                    await self.app.crash(exc)
                    raise

    async def _handle(self, chunks: list[Chunk]) -> None:
        ending: dict[int, Route] = {}
        for chunk in chunks:
            route = self.routes[chunk.tp.topic]
            ending[id(route.batch)] = route
            handle, batch = route.handle, route.batch
            for record in chunk.records:
                event = Held(record)
                with acting_for(event):
                    handle(event, batch)
        for route in ending.values():
            await route.finish(route.batch)
        await self.after(chunks)
        await self.app.producer.buffer.flush()  # the changelog records, to the Kafka client
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

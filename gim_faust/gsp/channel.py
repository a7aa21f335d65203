"""The handlers of one channel (``voice`` or ``digital``): a thin shell around the transforms.

Each handler does three things per record: decode (bad input goes to the rejected topic),
read state, call the pure transform. The engine (``gsp/engine.py``) hands them a batch of
fetched records; at its end the channel hands its output to the Kafka client, and once
Kafka has acknowledged all of the batch's output (the engine waits once, for every
channel), it writes the state of every key the batch changed, once (``gsp/batch.py``);
then the offsets are done. A state therefore never holds an event whose output could still
be lost: after a crash, the records from the committed offset come again, and each is
either not in the state yet (it is applied again and gives the same output, keys and
versions being deterministic) or in it with its output already in Kafka (a duplicate,
which sends nothing).

Values written by a version that stored state ahead of its output carry an outbox of what
each event sent (``tables/state_codec.py``); a duplicate of an offset not committed yet
re-sends what that outbox holds for it, so an upgrade after a kill -9 loses nothing.

What happens per key (state read and written, the event-time clock of each interaction
partition, timeouts, forgotten tombstones) is ``transforms/driving.py``, the same code the
unit tests and the in-memory runner drive; here the key-value store it works on is the
batch (:class:`KeysAt`).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

import orjson
from faust.types import TP, RecordMetadata

from gim_faust.gsp import clock_log, faust_patches
from gim_faust.gsp.batch import Batch, Held, KeysAt, acting_for
from gim_faust.gsp.engine import Route
from gim_faust.gsp.intake import Chunk
from gim_faust.gsp.metrics import child
from gim_faust.gsp.output import Output
from gim_faust.models.codec import BAD_USER_DATA, Rejection, Source, decode
from gim_faust.models.events import AgentEvent, InteractionEvent
from gim_faust.models.facts import from_record
from gim_faust.tables import state_codec
from gim_faust.tables.codec_table import CodecTable
from gim_faust.tables.specs import partition_items, state_table, table_name
from gim_faust.transforms import driving
from gim_faust.transforms.driving import Applied, InteractionClock
from gim_faust.transforms.outcome import PartyEnded

if TYPE_CHECKING:
    from gim_faust.gsp.service import Gsp

log = logging.getLogger(__name__)

class Channel:
    def __init__(self, gsp: Gsp, channel: str, partitions: dict[str, int]) -> None:
        self.gsp, self.channel = gsp, channel
        topics, app = gsp.topics, gsp.app
        self.interaction_topic = topics.raw(f"{channel}.interactions")
        self.agent_topic = topics.raw(f"{channel}.agents")
        self.party_topic = topics.party_ended(channel)
        self.interaction_source = Source(channel, agents=False)
        self.agent_source = Source(channel, agents=True)
        self.interactions = state_table(
            app, table_name("interactions", channel), partitions[self.interaction_topic],
            "open interactions and tombstones of ended ones")
        self.agents = state_table(app, table_name("agents", channel), partitions[self.agent_topic],
                                  "agent sessions, states and after-call-work joins")
        self.party_facts = CodecTable(
            state_table(app, table_name("party-facts", channel), partitions[self.agent_topic],
                        "ended party rows the after-call-work join may re-emit"),
            state_codec.encode_fact, state_codec.decode_fact, gsp.changelog.add)
        self.batches = (Batch(self.interactions, state_codec.interaction_from, gsp.changelog),
                        Batch(self.agents, state_codec.agent_from, gsp.changelog))
        self.clocks: dict[int, InteractionClock] = {}
        # Where a clock is rebuilt after an aborted batch: at its start, not at the commit.
        self.resume_at: dict[int, int] = {}
        self.last_of_batch: dict[int, Held] = {}  # by interaction partition
        # Events of the batch by (topic, type): the counter goes up once per batch, since
        # a labelled increment per event cost 2 % of the worker.
        self.counted: Counter[tuple[str, str]] = Counter()
        self.output = Output(gsp, self.party_topic)

    def routes(self) -> dict[str, Route]:
        """The engine's routes for this channel's input topics."""
        interactions = Route(self._interaction_event, self.batches[0], self._send,
                             self._write_interactions)
        agents = Route(self._agent_event, self.batches[1], self._send, self._write)
        return {self.interaction_topic: interactions, self.agent_topic: agents,
                self.party_topic: agents}

    def forget(self, partitions: set[int]) -> None:
        """Drop what this worker holds in memory of partitions it no longer owns: their
        clocks, and every cached state."""
        for partition in partitions:
            self.clocks.pop(partition, None)
            self.resume_at.pop(partition, None)
        for batch in self.batches:
            batch.forget()

    def abort(self, chunks: list[Chunk]) -> None:
        """Forget what an aborted batch did in memory (``gsp/engine.py``): its keys, output
        and counts; the clocks of its interaction partitions restart where it began, from
        the states as the tables hold them."""
        for batch in self.batches:
            batch.abort()
        for chunk in chunks:
            if chunk.tp.topic == self.interaction_topic:
                self.clocks.pop(chunk.tp.partition, None)
                self.resume_at[chunk.tp.partition] = chunk.start
        self.last_of_batch.clear()
        self.counted.clear()

    # --- interactions --------------------------------------------------------------------

    def _interaction_event(self, event: Held, batch: Batch) -> None:
        started = time.perf_counter()
        message = event.message
        self.last_of_batch[message.partition] = event
        decoded = decode(event.value, self.interaction_source, self.gsp.settings.tenant,
                         self.gsp.latest_ts_ms())
        if isinstance(decoded, Rejection):
            self.gsp.rejects.add(message, decoded)
            return
        assert isinstance(decoded, InteractionEvent)  # an interactions source decodes no other
        if decoded.bad_user_data:  # applied without it; its bytes are set aside all the same
            self.gsp.rejects.add(message, Rejection(BAD_USER_DATA, decoded.bad_user_data))
        metrics = self.gsp.metrics
        self.counted[message.topic, decoded.type] += 1
        clock = self._clock(message.partition)
        for applied in clock.apply(KeysAt(batch, event), decoded, self.gsp.view):
            if applied.timed_out:
                child(metrics.timed_out, self.channel).inc()
            self._record(event, batch, applied)
        metrics.processing.observe(time.perf_counter() - started)

    def _clock(self, partition: int) -> InteractionClock:
        """The partition's clock, rebuilt from the local table after a (re)start, standing
        where it stood at the committed offset (``gsp/clock_log.py``), or at the start of an
        aborted batch."""
        clock = self.clocks.get(partition)
        if clock is None:
            logged = clock_log.entries(self.interactions.get(clock_log.KEY))
            start = self.resume_at.pop(partition, None)
            at = None if start is None else clock_log.at(logged, start)
            if at is None:  # no batch ended there since the commit, but bad input
                at = clock_log.at(logged, faust_patches.committed(
                    self.gsp.app.consumer, TP(self.interaction_topic, partition)))
            clock = self.clocks[partition] = InteractionClock.rebuild(self.gsp.timeout_ms, (
                (key.decode(), state_codec.interaction_from(state_codec.unpack(raw)[0]))
                for key, raw in partition_items(self.interactions, partition)
                if key != clock_log.KEY), at)
        return clock

    def _write_interactions(self, batch: Batch) -> None:
        """Write the batch's states, and log where each partition's clock stands at its end."""
        self._write(batch)
        for partition, event in self.last_of_batch.items():
            clock = self.clocks.get(partition)
            if clock is None:  # only bad input in this batch so far
                continue
            child(self.gsp.metrics.event_time, self.interaction_topic, partition).set(
                clock.watermark_ms / 1000)
            committed = faust_patches.committed(self.gsp.app.consumer,
                                                TP(self.interaction_topic, partition))
            with acting_for(event):
                self.interactions[clock_log.KEY] = clock_log.added(
                    clock_log.entries(self.interactions.get(clock_log.KEY)),
                    [event.message.offset + 1, clock.watermark_ms, clock.swept_ms], committed)
        self.last_of_batch.clear()

    # --- agents and the after-call-work join ---------------------------------------------

    def _agent_event(self, event: Held, batch: Batch) -> None:
        message = event.message
        if message.topic == self.party_topic:
            applied = driving.apply_party_ended(KeysAt(batch, event), _party_ended(event.value),
                                                self.party_facts)
        else:
            decoded = decode(event.value, self.agent_source, self.gsp.settings.tenant,
                             self.gsp.latest_ts_ms())
            if isinstance(decoded, Rejection):
                self.gsp.rejects.add(message, decoded)
                return
            assert isinstance(decoded, AgentEvent)  # an agents source decodes no other
            self.counted[message.topic, decoded.type] += 1
            applied = driving.apply_agent(KeysAt(batch, event), decoded, self.gsp.view,
                                          self.party_facts)
        self._record(event, batch, applied)

    # --- batches, state and output -------------------------------------------------------

    def _record(self, event: Held, batch: Batch, applied: Applied) -> None:
        """Hold what the key's event sent for the end of the batch (its new state is in the
        batch already); for a duplicate, queue what an outbox holds for its offset again."""
        message, outcome, metrics = event.message, applied.outcome, self.gsp.metrics
        touched = batch.get(applied.key.encode(), event)
        if outcome.out_of_state:
            child(metrics.out_of_state, message.topic).inc()
        for key in outcome.unconvertible:
            child(metrics.user_data_unconvertible, key).inc()
        if outcome.duplicate:
            # The same message again (same offset) is a replay after a crash. A value written
            # by an earlier version may hold its output in an outbox, maybe lost: send it
            # again. A repeat the source sent (another offset) sends nothing.
            child(metrics.duplicates, message.topic).inc()
            batch.resend += state_codec.sent_at(touched.outbox, message.topic, message.offset)
            if self._uncommitted(message.topic, message.partition, message.offset):
                # Maybe that replay: RocksDB kept the state this message wrote, but the
                # changelog may never have received it. Writing it again puts it there, or a
                # later rebuild from the changelog would miss the message for good.
                touched.dirty = True
            return
        batch.outgoing.add(outcome)

    async def _send(self, batch: Batch) -> list[Awaitable[RecordMetadata]]:
        """Hand the batch's output to the Kafka client; its delivery futures."""
        return await self.output.publish(batch.resend, batch.outgoing)

    def _write(self, batch: Batch) -> None:
        """Once Kafka has acknowledged the batch's output: write its states."""
        batch.write(self._still_needed)
        metrics = self.gsp.metrics
        for (topic, kind), count in self.counted.items():
            child(metrics.events_in, topic, kind).inc(count)
        self.counted.clear()
        child(metrics.open_interactions, self.channel).set(
            sum(len(c.open) for c in self.clocks.values()))
        child(metrics.tombstones, self.channel).set(
            sum(len(c.ended) for c in self.clocks.values()))

    def _still_needed(self, entry: list[Any], partition: int) -> bool:
        """Whether a stored outbox entry may still be needed: its offset is not committed.
        Entries of a table partition come from the same partition of its input topics."""
        return self._uncommitted(entry[0], partition, entry[1])

    def _uncommitted(self, topic: str, partition: int, offset: int) -> bool:
        committed = faust_patches.committed(self.gsp.app.consumer, TP(topic, partition))
        return committed is None or offset >= committed


def _party_ended(value: bytes) -> PartyEnded:
    raw = orjson.loads(value)
    return PartyEnded(raw["agent_login"], raw["media"], raw["end_ms"],
                      from_record(raw["fact"]))  # type: ignore[arg-type]

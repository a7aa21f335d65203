"""The agents of one channel (``voice`` or ``digital``): a thin shell around the transforms.

Each agent does four things per message: decode (bad input goes to the rejected topic),
read state, call the pure transform, then send the facts and write the state. Facts are
queued before the state is written, so the producer never holds a state change ahead of the
facts it caused: a crash can make the worker repeat work (harmless: keys and versions are
deterministic), not skip it.

Interaction timeouts run in event time per partition: each partition keeps the newest event
time seen and an index of its open interactions, and sweeps them when its event time has
moved on a minute. The same sweep forgets tombstones past the deduplication window.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from gim_faust.codec import Rejection, Source, decode
from gim_faust.facts import from_record, to_record
from gim_faust.tables import state_codec
from gim_faust.tables.specs import partition_items, state_table
from gim_faust.tables.store import CodecTable
from gim_faust.transforms import agent_state, interaction
from gim_faust.transforms.outcome import Outcome, PartyEnded

if TYPE_CHECKING:
    from gim_faust.gsp.app import Gsp

log = logging.getLogger(__name__)

SWEEP_EVERY_MS = 60_000
# Repeats come "seconds or hours later" (contract events.md); a day of event time covers it.
DEDUPE_WINDOW_MS = 24 * 3600 * 1000


@dataclass
class PartitionClock:
    """Event time and open interactions of one interaction-topic partition."""

    watermark_ms: int = 0
    swept_ms: int = 0
    open: dict[bytes, int] = field(default_factory=dict)   # key -> last event time
    ended: dict[bytes, int] = field(default_factory=dict)  # key -> end time


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
            app, f"interactions-{channel}", partitions[self.interaction_topic],
            "open interactions and tombstones of ended ones")
        self.agents = state_table(app, f"agents-{channel}", partitions[self.agent_topic],
                                  "agent sessions, states and after-call-work joins")
        party_facts = state_table(app, f"party-facts-{channel}", partitions[self.agent_topic],
                                  "ended party rows the after-call-work join may re-emit")
        self.party_facts = CodecTable(party_facts, state_codec.encode_fact,
                                      state_codec.decode_fact)
        self.party_out = gsp.raw_topic(self.party_topic)
        self.clocks: dict[int, PartitionClock] = {}
        app.agent(gsp.raw_topic(self.interaction_topic),
                  name=f"interactions-{channel}")(self._interaction_agent)
        app.agent(gsp.raw_topic(self.agent_topic, self.party_topic),
                  name=f"agents-{channel}")(self._agent_agent)

    def forget(self, partitions: set[int]) -> None:
        """Drop the in-memory indexes of partitions this worker no longer owns."""
        for partition in partitions:
            self.clocks.pop(partition, None)

    # --- interactions --------------------------------------------------------------------

    async def _interaction_agent(self, stream: Any) -> None:
        await self.gsp.ready_to_process.wait()
        async for event in stream.events():
            started = time.perf_counter()
            message = event.message
            self.gsp.observe_lag(message)
            decoded = decode(event.value, self.interaction_source, self.gsp.settings.tenant)
            if isinstance(decoded, Rejection):
                await self.gsp.reject(message, event.value, decoded)
                continue
            self.gsp.metrics.events_in.labels(message.topic, decoded.type).inc()
            clock = self._clock(message.partition)
            key = decoded.interaction_id.encode()
            raw = self.interactions.get(key)
            state = state_codec.decode_interaction(raw) if raw is not None else None
            outcome = interaction.apply(state, decoded, self.gsp.view, self.gsp.timeout_ms,
                                        clock.watermark_ms)
            await self._settle_interaction(message.topic, key, outcome, clock)
            clock.watermark_ms = max(clock.watermark_ms, decoded.ts_ms)
            self.gsp.metrics.event_time.labels(message.topic, message.partition).set(
                clock.watermark_ms / 1000)
            if clock.watermark_ms - clock.swept_ms >= SWEEP_EVERY_MS:
                await self._sweep(message.topic, clock)
            self.gsp.metrics.processing.observe(time.perf_counter() - started)

    async def _settle_interaction(self, topic: str, key: bytes, outcome: Outcome,
                                  clock: PartitionClock) -> None:
        self._count(topic, outcome)
        if outcome.duplicate:
            return
        await self._publish(outcome)
        state = outcome.state
        self.interactions[key] = state_codec.encode_interaction(state)
        if isinstance(state, interaction.InteractionState):
            clock.open[key] = state.last_ms
        else:
            clock.open.pop(key, None)
            clock.ended[key] = state.end_ms
        self.gsp.metrics.open_interactions.labels(self.channel).set(
            sum(len(c.open) for c in self.clocks.values()))

    def _clock(self, partition: int) -> PartitionClock:
        """The partition's clock, rebuilt from the local table after a (re)start."""
        clock = self.clocks.get(partition)
        if clock is None:
            clock = self.clocks[partition] = PartitionClock()
            for key, raw in partition_items(self.interactions, partition):
                state = state_codec.decode_interaction(raw)
                if isinstance(state, interaction.InteractionState):
                    clock.open[key] = state.last_ms
                    clock.watermark_ms = max(clock.watermark_ms, state.last_ms)
                else:
                    clock.ended[key] = state.end_ms
                    clock.watermark_ms = max(clock.watermark_ms, state.end_ms)
            clock.swept_ms = clock.watermark_ms
        return clock

    async def _sweep(self, topic: str, clock: PartitionClock) -> None:
        clock.swept_ms = clock.watermark_ms
        for key, last_ms in list(clock.open.items()):
            if clock.watermark_ms - last_ms <= self.gsp.timeout_ms:
                continue
            state = state_codec.decode_interaction(self.interactions[key])
            outcome = interaction.expire(state, clock.watermark_ms, self.gsp.timeout_ms)
            if outcome is not None:
                self.gsp.metrics.timed_out.labels(self.channel).inc()
                await self._settle_interaction(topic, key, outcome, clock)
        horizon = clock.watermark_ms - DEDUPE_WINDOW_MS
        for key, end_ms in list(clock.ended.items()):
            if end_ms < horizon:
                del self.interactions[key]
                del clock.ended[key]
        self.gsp.metrics.tombstones.labels(self.channel).set(
            sum(len(c.ended) for c in self.clocks.values()))

    # --- agents and the after-call-work join ---------------------------------------------

    async def _agent_agent(self, stream: Any) -> None:
        await self.gsp.ready_to_process.wait()
        async for event in stream.events():
            message = event.message
            self.gsp.observe_lag(message)
            if message.topic == self.party_topic:
                ended = _party_ended(event.value)
                key = ended.agent_login.encode()
                outcome = agent_state.apply_party_ended(self._agent(key), ended,
                                                        self.party_facts)
            else:
                decoded = decode(event.value, self.agent_source, self.gsp.settings.tenant)
                if isinstance(decoded, Rejection):
                    await self.gsp.reject(message, event.value, decoded)
                    continue
                self.gsp.metrics.events_in.labels(message.topic, decoded.type).inc()
                key = decoded.agent_login.encode()
                outcome = agent_state.apply(self._agent(key), decoded, self.gsp.view,
                                            self.party_facts)
            self._count(message.topic, outcome)
            if not outcome.duplicate:
                await self._publish(outcome)
                self.agents[key] = state_codec.encode_agent(outcome.state)

    def _agent(self, key: bytes) -> agent_state.AgentState | None:
        raw = self.agents.get(key)
        return state_codec.decode_agent(raw) if raw is not None else None

    # --- output ---------------------------------------------------------------------------

    def _count(self, topic: str, outcome: Outcome) -> None:
        if outcome.duplicate:
            self.gsp.metrics.duplicates.labels(topic).inc()
        if outcome.out_of_state:
            self.gsp.metrics.out_of_state.labels(topic).inc()

    async def _publish(self, outcome: Outcome) -> None:
        for fact in outcome.facts:
            await self.gsp.send_fact(fact)
        for ended in outcome.handoffs:
            await self.party_out.send(key=ended.agent_login.encode(), value=orjson.dumps(
                {"agent_login": ended.agent_login, "media": ended.media,
                 "end_ms": ended.end_ms, "fact": to_record(ended.fact)}))


def _party_ended(value: bytes) -> PartyEnded:
    raw = orjson.loads(value)
    return PartyEnded(raw["agent_login"], raw["media"], raw["end_ms"],
                      from_record(raw["fact"]))  # type: ignore[arg-type]

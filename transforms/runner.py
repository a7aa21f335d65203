"""An in-memory pipeline over the transforms: the Stream Processor's logic without Kafka.

It wires the pure steps the way the GSP agents do (decode, deduplicate, apply, hand ended
parties to the agent side, keep the newest version of every row), so tests and benchmarks
can replay a scenario in milliseconds and compare with the expected rows. The state lives in
dicts here; in the GSP it lives in Faust tables.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from gim_faust.transforms import agent_state, interaction
from gim_faust.transforms.config_view import ConfigView
from gim_faust.transforms.outcome import Outcome

from gim_faust.codec import Rejection, Source, decode
from gim_faust.events import AgentEvent, InteractionEvent
from gim_faust.facts import Fact, InteractionResourceFact

# The stuck-interaction sweep runs when a topic's event time has moved this far.
SWEEP_EVERY_MS = 60_000


@dataclass
class Runner:
    config: ConfigView
    tenant: str
    timeout_s: int
    interactions: dict[str, interaction.State] = field(default_factory=dict)
    agents: dict[str, agent_state.AgentState] = field(default_factory=dict)
    party_facts: dict[str, InteractionResourceFact] = field(default_factory=dict)
    rows: dict[tuple[str, str], Fact] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    # Event time is measured per input topic, as the GSP measures it per topic partition:
    # one topic read ahead of another must not time out the other's interactions.
    watermarks: dict[str, int] = field(default_factory=dict)
    _swept: dict[str, int] = field(default_factory=dict)
    _topic_of: dict[str, str] = field(default_factory=dict)

    def feed(self, topic: str, value: bytes) -> None:
        """One raw message as read from ``topic``."""
        event = decode(value, Source.of_topic(topic), self.tenant)
        if isinstance(event, Rejection):
            self.counts[f"rejected:{event.reason}"] += 1
        elif isinstance(event, InteractionEvent):
            self._interaction(topic, event)
        else:
            self._agent(event)

    def finish(self) -> None:
        """Time out what is stuck, as the GSP's periodic sweep would by now."""
        for topic in self.watermarks:
            self._sweep(topic)

    def _interaction(self, topic: str, event: InteractionEvent) -> None:
        state = self.interactions.get(event.interaction_id)
        watermark = self.watermarks.get(topic, 0)
        outcome = interaction.apply(state, event, self.config, self.timeout_s * 1000,
                                    watermark)
        self.interactions[event.interaction_id] = outcome.state
        self._topic_of[event.interaction_id] = topic
        self._emit(outcome)
        self.watermarks[topic] = max(watermark, event.ts_ms)
        if self.watermarks[topic] - self._swept.get(topic, 0) >= SWEEP_EVERY_MS:
            self._sweep(topic)

    def _agent(self, event: AgentEvent) -> None:
        outcome = agent_state.apply(self.agents.get(event.agent_login), event, self.config,
                                    self.party_facts)
        self.agents[event.agent_login] = outcome.state
        self._emit(outcome)

    def _sweep(self, topic: str) -> None:
        watermark = self._swept[topic] = self.watermarks[topic]
        for key, state in list(self.interactions.items()):
            if isinstance(state, interaction.InteractionState) and self._topic_of[key] == topic:
                outcome = interaction.expire(state, watermark, self.timeout_s * 1000)
                if outcome is not None:
                    self.interactions[key] = outcome.state
                    self._emit(outcome)

    def _emit(self, outcome: Outcome) -> None:
        self.counts["duplicate"] += outcome.duplicate
        self.counts["out_of_state"] += outcome.out_of_state
        for fact in outcome.facts:
            key = (fact.table, fact.id)
            old = self.rows.get(key)
            if old is None or fact.version >= old.version:
                self.rows[key] = fact
        for ended in outcome.handoffs:
            follow = agent_state.apply_party_ended(self.agents.get(ended.agent_login), ended,
                                                   self.party_facts)
            self.agents[ended.agent_login] = follow.state
            self._emit(follow)

"""What every transform returns: the new state and what the shell must send."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gim_faust.models.facts import Fact, InteractionResourceFact
from gim_faust.models.record import record


@record
class PartyEnded:
    """An established agent party that ended: the after-call-work join (keyed by
    ``agent_login``) needs it to attribute the AFTER_CALL_WORK state that may follow."""

    agent_login: str
    media: str
    end_ms: int
    fact: InteractionResourceFact


@dataclass(slots=True)
class Outcome:
    """``state`` replaces the old state (None: delete the key). ``facts`` go to the fact
    topic, ``handoffs`` to the after-call-work join. ``duplicate``, ``out_of_state`` and ``unconvertible`` are
    for the metrics: a duplicate had no effect; an out-of-state event was applied as far as it
    made sense (contract ``events.md``, "Bad input")."""

    state: Any
    facts: list[Fact] = field(default_factory=list)
    handoffs: list[PartyEnded] = field(default_factory=list)
    duplicate: bool = False
    out_of_state: bool = False
    unconvertible: list[str] = field(default_factory=list)  # user-data keys that became NULL

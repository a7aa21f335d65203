"""The state of one interaction, as the interaction logic keeps it between events.

It is an :class:`InteractionState` while the interaction is open and an :class:`Ended`
tombstone afterwards, kept for the deduplication window so a repeat delivered hours later has
no effect. Plain data, kept apart from the rules in :mod:`interaction` so that the driving
and the tables' state codec can hold and store it without them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gim_faust.models.record import record


@dataclass
class Segment:
    """A stay at a mediation DN, from ``EventQueued`` to its end."""

    id: str
    dn: str
    resource_key: int
    start_ms: int
    end_ms: int | None = None
    result: str | None = None
    target: str | None = None
    target_resource_key: int | None = None
    delivered: str | None = None  # id of the party it delivered
    accepted: int = 0
    done: bool = False  # final: its delivery can no longer change


@dataclass
class Party:
    """A stay at an agent or extension, from ``EventRinging``/``EventDialing`` (or, joining
    from a consultation, ``EventPartyChanged``/``EventPartyAdded``) to its end."""

    id: str
    dn: str | None
    agent_login: str | None
    resource_key: int
    dialed: bool
    start_ms: int
    established_ms: int | None = None
    held_since_ms: int | None = None
    hold_ms: int = 0
    hold_count: int = 0
    end_ms: int | None = None
    result: str | None = None
    segment: str | None = None
    mediation_resource_key: int | None = None
    mediation_duration: int | None = None
    # contract consultations.md; None in states stored before it: RECEIVED or INITIATED
    role: str | None = None
    # the interaction's kept user data when the party ended, by column (user-data.md)
    user_data: dict[str, str | int] | None = None

    @property
    def resource_role(self) -> str:
        return self.role or ("INITIATED" if self.dialed else "RECEIVED")


@dataclass
class InteractionState:
    interaction_id: str
    media: str
    start_ms: int
    last_seq: int
    last_ms: int
    direction: str | None = None
    source_address: str | None = None
    target_address: str | None = None
    end_ms: int | None = None
    status: str = "ACTIVE"
    consult_of: str | None = None  # the main interaction of a consultation
    user_data: dict[str, str | int] = field(default_factory=dict)  # kept keys, by column
    segments: list[Segment] = field(default_factory=list)
    parties: list[Party] = field(default_factory=list)


@record
class Ended:
    """What is kept of a finished interaction: enough to recognise repeats and late events."""

    last_seq: int
    end_ms: int


State = InteractionState | Ended | None

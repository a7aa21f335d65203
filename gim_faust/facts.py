"""Typed fact rows and the dimension records the Stream Processor emits beside them.

Field names are the Info Mart's column names (contract ``infomart.md``) so the loader maps a
record to a row without a translation table. Every record has a deterministic ``id`` (its
primary key) and a ``version``: the loader keeps, per id, the version with the highest
number, so repeats and out-of-order deliveries never bring an older state back.

Versions: the interaction side numbers a row by the ``seq`` of the last event applied to it;
the after-call-work join, which has the last word on an ended party, numbers its versions
above the ``seq`` that ended the party (see ``transforms/after_call_work.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, ClassVar, overload

from gim_faust.events import from_ms


@dataclass(frozen=True, slots=True)
class InteractionFact:
    table: ClassVar[str] = "interaction_fact"
    interaction_id: str
    media_type_key: int
    interaction_type_key: int | None
    start_ts: datetime
    end_ts: datetime | None
    start_date_time_key: int
    source_address: str | None
    target_address: str | None
    status: str
    active_flag: int
    version: int

    @property
    def id(self) -> str:
        return self.interaction_id


@dataclass(frozen=True, slots=True)
class MediationSegmentFact:
    table: ClassVar[str] = "mediation_segment_fact"
    mediation_segment_id: str
    interaction_id: str
    resource_key: int
    media_type_key: int
    technical_descriptor_key: int | None
    start_ts: datetime
    end_ts: datetime | None
    start_date_time_key: int
    mediation_duration: int | None
    target_resource_key: int | None
    accepted_flag: int
    active_flag: int
    version: int

    @property
    def id(self) -> str:
        return self.mediation_segment_id


@dataclass(frozen=True, slots=True)
class InteractionResourceFact:
    table: ClassVar[str] = "interaction_resource_fact"
    interaction_resource_id: str
    interaction_id: str
    resource_key: int
    media_type_key: int
    interaction_type_key: int | None
    technical_descriptor_key: int | None
    start_ts: datetime
    end_ts: datetime | None
    start_date_time_key: int
    ring_duration: int
    talk_duration: int
    hold_duration: int
    hold_count: int
    after_call_work_duration: int
    customer_handle_count: int
    mediation_resource_key: int | None
    mediation_duration: int | None
    active_flag: int
    version: int

    @property
    def id(self) -> str:
        return self.interaction_resource_id


@dataclass(frozen=True, slots=True)
class SessionFact:
    table: ClassVar[str] = "sm_res_session_fact"
    sm_res_session_id: str
    resource_key: int
    media_type_key: int
    start_ts: datetime
    end_ts: datetime | None
    total_duration: int | None
    start_date_time_key: int
    active_flag: int
    version: int

    @property
    def id(self) -> str:
        return self.sm_res_session_id


@dataclass(frozen=True, slots=True)
class StateFact:
    table: ClassVar[str] = "sm_res_state_fact"
    sm_res_state_id: str
    resource_key: int
    media_type_key: int
    resource_state_key: int
    resource_state_reason_key: int | None
    start_ts: datetime
    end_ts: datetime | None
    total_duration: int | None
    start_date_time_key: int
    active_flag: int
    version: int

    @property
    def id(self) -> str:
        return self.sm_res_state_id


@dataclass(frozen=True, slots=True)
class PlaceholderResource:
    """A ``resource_`` row for an endpoint configuration does not know (yet)."""

    table: ClassVar[str] = "resource_"
    resource_key: int
    resource_type: str
    resource_name: str
    version: int = 0

    @property
    def id(self) -> str:
        return str(self.resource_key)


@dataclass(frozen=True, slots=True)
class ReasonCode:
    """A ``resource_state_reason`` row for a not-ready code seen in events."""

    table: ClassVar[str] = "resource_state_reason"
    resource_state_reason_key: int
    reason_code: str
    version: int = 0

    @property
    def id(self) -> str:
        return str(self.resource_state_reason_key)


Fact = (InteractionFact | MediationSegmentFact | InteractionResourceFact | SessionFact
        | StateFact | PlaceholderResource | ReasonCode)
FACT_TYPES: dict[str, type[Fact]] = {cls.table: cls for cls in (
    InteractionFact, MediationSegmentFact, InteractionResourceFact, SessionFact, StateFact,
    PlaceholderResource, ReasonCode)}
_FIELDS = {cls.table: tuple(f.name for f in fields(cls)) for cls in FACT_TYPES.values()}
_TS_FIELDS = {cls.table: frozenset(f.name for f in fields(cls) if f.name.endswith("_ts"))
              for cls in FACT_TYPES.values()}


@overload
def ts(ms: int) -> datetime: ...


@overload
def ts(ms: None) -> None: ...


@overload
def ts(ms: int | None) -> datetime | None: ...


def ts(ms: int | None) -> datetime | None:
    """A fact timestamp from Unix milliseconds (None stays None)."""
    return None if ms is None else from_ms(ms)


def supersedes(fact: Fact, held: Fact | None) -> bool:
    """Whether ``fact`` replaces ``held``, the version of the same row kept so far: only a
    higher version does, as in the Info Mart's upsert (``WHERE excluded.version >
    t.version``). The Stream Processor numbers every change, so equal versions are equal
    records and keeping the first is as good as keeping the last."""
    return held is None or fact.version > held.version


def to_record(fact: Fact) -> dict[str, Any]:
    """The fact as a plain dict with its table name: what goes on the fact topic. (Shallow:
    every field is a scalar, so ``dataclasses.asdict``'s deep copy would only cost time.)"""
    record = {name: getattr(fact, name) for name in _FIELDS[fact.table]}
    record["table"] = fact.table
    return record


def from_record(record: dict[str, Any]) -> Fact:
    """The inverse of :func:`to_record`; timestamps may be ISO strings (after JSON)."""
    record = dict(record)
    table = record.pop("table")
    for name in _TS_FIELDS[table]:
        value = record[name]
        if isinstance(value, str):
            record[name] = datetime.fromisoformat(value)
    return FACT_TYPES[table](**record)

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

import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, ClassVar, overload

from gim_faust.errors import BadInputError
from gim_faust.models.events import from_ms, parse_utc
from gim_faust.models.record import record


@record
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
    # contract v2 (consultations.md); last, with a default, so v1 records still read
    consult_of_interaction_id: str | None = None

    @property
    def id(self) -> str:
        return self.interaction_id


@record
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


@record
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
    resource_role: str | None = None  # contract v2 (consultations.md), as above
    # contract v2 (user-data.md): the interaction's kept user data when the party ended, by
    # column; not a column of this table: the loader writes it to irf_user_data
    user_data: dict[str, str | int] | None = None

    @property
    def id(self) -> str:
        return self.interaction_resource_id

    def revised(self, after_call_work_duration: int, active_flag: int,
                version: int) -> InteractionResourceFact:
        """The row as the after-call-work join revises it: ``dataclasses.replace`` did the
        same in 3.3 µs, on most agent events."""
        return InteractionResourceFact(
            self.interaction_resource_id, self.interaction_id, self.resource_key,
            self.media_type_key, self.interaction_type_key, self.technical_descriptor_key,
            self.start_ts, self.end_ts, self.start_date_time_key, self.ring_duration,
            self.talk_duration, self.hold_duration, self.hold_count, after_call_work_duration,
            self.customer_handle_count, self.mediation_resource_key, self.mediation_duration,
            active_flag, version, self.resource_role, self.user_data)


@record
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


@record
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


@record
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


@record
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


def from_record(record: Mapping[str, Any], strict: bool = False) -> Fact:
    """The inverse of :func:`to_record`, timestamps as ISO strings too (after JSON).

    Lenient for records this program wrote itself (a fact kept in a stored state); strict for
    records read from Kafka (the loader): every field present, of its declared type (no bool
    for an int, no naive timestamp) and fitting its database column, else
    :class:`BadInputError` with the reason (:data:`REFUSALS`)."""
    values = dict(record)
    table = values.pop("table", None)
    if not strict:
        assert isinstance(table, str)  # written by to_record
        for name in _TS_FIELDS[table]:
            if isinstance(values[name], str):
                values[name] = parse_utc(values[name])
        return FACT_TYPES[table](**values)
    if not isinstance(table, str) or table not in FACT_TYPES:
        raise BadInputError(UNKNOWN_TABLE, f"table {str(table)[:60]!r}")
    wanted = _KINDS[table]
    missing = wanted.keys() - values.keys() - _ADDED[table]
    extra = values.keys() - wanted.keys()
    if missing or extra:
        raise BadInputError(BAD_FIELDS, f"{table}: missing {sorted(missing)}, "
                                        f"unknown {sorted(extra)[:10]}")
    checked = {name: _checked(table, name, values[name], wanted[name]) for name in values}
    key = checked.get("start_date_time_key")
    if key is not None and key % _DATE_TIME_STEP_S:
        raise BadInputError(BAD_VALUE, f"{table}.start_date_time_key={key} is not the start of "
                                       f"a 15-minute interval")
    return FACT_TYPES[table](**checked)


# Why a strictly read record was refused (the label of gim_loader_bad_records_total, with
# the loader's own "not_json" and "not_a_fact").
UNKNOWN_TABLE = "unknown_table"
BAD_FIELDS = "bad_fields"
BAD_VALUE = "bad_value"
REFUSALS = (UNKNOWN_TABLE, BAD_FIELDS, BAD_VALUE)
_INT64 = (-(2**63), 2**63 - 1)
# The highest version a record can carry: versions are bigint, like every int column.
MAX_VERSION = _INT64[1]
# A user-data column's name (contract user-data.md).
COLUMN_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
# date_time keys are interval starts, bigint like every int (contract infomart.md, v2).
_DATE_TIME_STEP_S = 900


@dataclass(frozen=True, slots=True)
class _Kind:
    kind: type  # int, str, datetime or dict
    optional: bool


def _kinds(cls: type) -> dict[str, _Kind]:
    hints = typing.get_type_hints(cls)
    out = {}
    for f in fields(cls):
        hint = hints[f.name]
        args = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
        kinds = [typing.get_origin(a) or a for a in args if a is not type(None)]
        assert len(kinds) == 1 and kinds[0] in (int, str, datetime, dict), (cls, f.name, hint)
        out[f.name] = _Kind(kinds[0], len(kinds) < len(args))
    return out


_KINDS: dict[str, dict[str, _Kind]] = {table: _kinds(cls) for table, cls in FACT_TYPES.items()}
# Fields added with contract v2 (they have defaults): a record a previous Stream Processor
# wrote, still on the topic during an upgrade, lacks them.
_ADDED: dict[str, frozenset[str]] = {table: frozenset() for table in FACT_TYPES}
_ADDED[InteractionFact.table] = frozenset({"consult_of_interaction_id"})
_ADDED[InteractionResourceFact.table] = frozenset({"resource_role", "user_data"})


def _checked(table: str, name: str, value: Any, kind: _Kind) -> Any:
    if value is None:
        if kind.optional:
            return None
        raise BadInputError(BAD_VALUE, f"{table}.{name} is null")
    if kind.kind is int:
        if type(value) is not int or not _INT64[0] <= value <= _INT64[1]:
            raise BadInputError(BAD_VALUE, f"{table}.{name}={str(value)[:40]!r} is not a "
                                           f"64-bit integer")
        return value
    if kind.kind is str:
        if not isinstance(value, str):
            raise BadInputError(BAD_VALUE, f"{table}.{name} is not a string")
        return value
    if kind.kind is dict:  # user data: column -> text, or integer, or numeric as a string
        if not isinstance(value, dict) or not all(
                COLUMN_NAME.fullmatch(column) and (isinstance(item, str) or type(item) is int
                                                   and _INT64[0] <= item <= _INT64[1])
                for column, item in value.items()):
            raise BadInputError(BAD_VALUE, f"{table}.{name} is not an object of column names "
                                           f"to strings and 64-bit integers")
        return value
    try:
        return parse_utc(value)
    except ValueError as exc:
        shown = value[:40] if isinstance(value, str) else value
        raise BadInputError(BAD_VALUE, f"{table}.{name}={shown!r} {exc}") from None

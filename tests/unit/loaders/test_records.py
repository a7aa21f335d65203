"""Decoding fact records off the topic, and keeping the newest version of each row."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from functools import cache
from typing import Any

import orjson
import pytest
from gim_faust.loaders import records

from gim_faust.errors import BadInputError
from gim_faust.models import facts
from gim_faust.models.facts import (
    FACT_TYPES,
    InteractionFact,
    PlaceholderResource,
    ReasonCode,
    StateFact,
    to_record,
)
from tests.support import scenario as sc

T0 = datetime(2026, 11, 2, 9, 7, 12, 345000, tzinfo=timezone.utc)


@cache
def day_versions() -> tuple[Any, ...]:
    return tuple(sc.fact_versions("day"))


def interaction(version: int, interaction_id: str = "call-1", **changes: Any) -> InteractionFact:
    fact = InteractionFact(interaction_id, 1, 1, T0, None, 1793610000, "+1555", "8001", "ACTIVE",
                           1, version)
    return dataclasses.replace(fact, **changes)


def encoded(fact: Any) -> bytes:
    return orjson.dumps(to_record(fact))


def test_every_fact_the_transforms_emit_decodes_to_itself() -> None:
    versions = day_versions()
    assert {f.table for f in versions} >= set(records.FACT_TABLES) | {"resource_"}
    for fact in versions:
        assert records.decode(encoded(fact)) == fact


def test_the_id_column_is_the_id_property() -> None:
    samples = {type(f): f for f in day_versions()}
    samples[ReasonCode] = ReasonCode(42, "Break")
    assert set(samples) == set(FACT_TYPES.values())
    for cls, fact in samples.items():
        assert str(getattr(fact, records.ID_COLUMN[cls.table])) == fact.id


def test_timestamps_come_back_in_utc() -> None:
    record = to_record(interaction(1))
    record["start_ts"] = "2026-11-02T10:07:12.345+01:00"
    assert records.decode(orjson.dumps(record)).start_ts == T0


def test_a_record_of_contract_v1_reads_with_the_v2_columns_null() -> None:
    """What a Stream Processor before consultations wrote, still on the topic at an upgrade."""
    party = next(f for f in day_versions() if f.table == "interaction_resource_fact")
    for fact, added in ((interaction(1), "consult_of_interaction_id"),
                        (party, "resource_role")):
        record = to_record(fact)
        del record[added]
        assert records.decode(orjson.dumps(record)) == dataclasses.replace(fact, **{added: None})
    record = to_record(interaction(1))
    del record["version"]
    with pytest.raises(BadInputError) as caught:
        records.decode(orjson.dumps(record))
    assert caught.value.reason == facts.BAD_FIELDS


def _bad(change: dict[str, Any] | None = None, drop: str | None = None,
         table: str = "interaction_fact") -> bytes:
    record = to_record(interaction(1))
    record["table"] = table
    if drop:
        del record[drop]
    record.update(change or {})
    return orjson.dumps(record)


@pytest.mark.parametrize(("value", "reason"), [
    (b"{not json", records.NOT_JSON),
    (None, records.NOT_JSON),
    (b"", records.NOT_JSON),
    (b"[1, 2]", records.NOT_A_FACT),
    (b'"interaction_fact"', records.NOT_A_FACT),
    (b"{}", facts.UNKNOWN_TABLE),
    (_bad(table="ctl_kafka_offset"), facts.UNKNOWN_TABLE),
    (_bad(drop="status"), facts.BAD_FIELDS),
    (_bad({"surprise": 1}), facts.BAD_FIELDS),
    (_bad({"version": "7"}), facts.BAD_VALUE),
    (_bad({"version": 1.5}), facts.BAD_VALUE),
    (_bad({"active_flag": True}), facts.BAD_VALUE),
    (_bad({"version": 2**63}), facts.BAD_VALUE),
    (_bad({"status": None}), facts.BAD_VALUE),
    (_bad({"status": 3}), facts.BAD_VALUE),
    (_bad({"start_ts": "2026-11-02T09:07:12"}), facts.BAD_VALUE),
    (_bad({"start_ts": "yesterday"}), facts.BAD_VALUE),
    (_bad({"start_ts": 1793610000}), facts.BAD_VALUE),
    (_bad({"start_date_time_key": 1793610001}), facts.BAD_VALUE),
    (_bad({"start_date_time_key": 2**40}), facts.BAD_VALUE),
])
def test_a_record_that_is_not_a_well_typed_fact_is_refused(value: bytes | None,
                                                            reason: str) -> None:
    with pytest.raises(BadInputError) as info:
        records.decode(value)
    assert info.value.reason == reason


def test_optional_fields_may_be_null() -> None:
    fact = interaction(1, end_ts=None, source_address=None, interaction_type_key=None)
    assert records.decode(encoded(fact)) == fact


def test_newest_keeps_the_highest_version_of_each_row_whatever_the_order() -> None:
    facts = [interaction(3), interaction(1), interaction(5, status="COMPLETED", active_flag=0),
             interaction(4), interaction(2, "call-2"), interaction(1, "call-2")]
    rows = records.newest(facts)
    assert rows == {"interaction_fact": [interaction(5, status="COMPLETED", active_flag=0),
                                         interaction(2, "call-2")]}


def test_newest_orders_by_table_then_id_with_dimension_rows_first() -> None:
    state = StateFact("s-1", 7, 1, 2, None, T0, None, None, 1793610000, 1, 1)
    placeholders = [PlaceholderResource(k, "UnknownDN", str(k)) for k in (10, 9, 300)]
    facts = [state, interaction(1, "b"), interaction(1, "a"), *placeholders,
             ReasonCode(5, "Lunch")]
    rows = records.newest(facts)
    assert list(rows) == ["resource_", "resource_state_reason", "interaction_fact",
                          "sm_res_state_fact"]
    # Numeric keys sort as numbers, the way the database's index orders them.
    assert [p.resource_key for p in rows["resource_"]] == [9, 10, 300]
    assert [f.interaction_id for f in rows["interaction_fact"]] == ["a", "b"]


def test_newest_of_the_day_scenario_is_what_the_runner_keeps() -> None:
    rows = records.newest(day_versions())
    kept = {(t, f.id): f for t, facts in rows.items() for f in facts}
    runner = sc.replay("day", sc.interleaved("day"))
    assert kept == runner.rows


def test_date_time_keys_are_the_distinct_start_keys_of_facts_ascending() -> None:
    later = interaction(1, "b", start_ts=T0 + timedelta(hours=1), start_date_time_key=1793613600)
    rows = records.newest([later, interaction(1, "a"), interaction(1, "c"),
                           PlaceholderResource(1, "UnknownDN", "1")])
    assert records.date_time_keys(rows) == [1793610000, 1793613600]


def test_start_ts_never_changes_between_versions_of_a_row() -> None:
    # The fact tables' key is (id, start_ts): a row whose start moved would become two rows.
    starts: dict[tuple[str, str], set[datetime]] = {}
    for fact in day_versions():
        if fact.table in records.FACT_TABLES:
            starts.setdefault((fact.table, fact.id), set()).add(fact.start_ts)
    assert all(len(s) == 1 for s in starts.values())

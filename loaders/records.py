"""Fact records as the loader reads them off the fact topic: decode, check, keep the newest.

The Stream Processor writes each record as ``orjson(to_record(fact))`` (``gim_faust.topics``,
``Topics.facts``). Everything here is pure, so the rules the exactly-once argument rests on
(docs/loader.md) are tested without a database:

- a record that does not decode to a well-typed fact is refused here, before it can reach
  ``COPY``: a type error there would fail the whole batch again on every retry, and a too-large
  integer would even be truncated silently by binary ``COPY``;
- per row (table and id), only the highest ``version`` of a batch goes to the database, because
  one ``INSERT ... ON CONFLICT DO UPDATE`` may not touch a row twice;
- rows go out sorted by table (in :data:`TABLE_ORDER`) and id, so two writers that ever share
  a row lock it in the same order and cannot deadlock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import fields
from operator import attrgetter
from typing import Any

import orjson

from gim_faust.errors import BadInputError
from gim_faust.models.facts import (
    FACT_TYPES,
    Fact,
    InteractionFact,
    InteractionResourceFact,
    MediationSegmentFact,
    PlaceholderResource,
    ReasonCode,
    SessionFact,
    StateFact,
    from_record,
    supersedes,
)

# The fact tables proper, in the order a batch writes (and so locks) them.
FACT_TABLES: tuple[str, ...] = tuple(cls.table for cls in (
    InteractionFact, MediationSegmentFact, InteractionResourceFact, SessionFact, StateFact))
# Where a party's user data goes (contract user-data.md): written with the party rows, and
# partitioned like the fact tables (loaders/user_data_rows.py).
USER_DATA_TABLE = "irf_user_data"
PARTITIONED_TABLES: tuple[str, ...] = (*FACT_TABLES, USER_DATA_TABLE)
# Dimension rows the facts need come first: date_time (not a record), then these two.
DIMENSION_TABLES: tuple[str, ...] = (PlaceholderResource.table, ReasonCode.table)
TABLE_ORDER: tuple[str, ...] = DIMENSION_TABLES + FACT_TABLES

# Column names per table, in dataclass order; the first one is the row's id (its primary key,
# together with start_ts for facts). A party's user data goes to irf_user_data instead.
COLUMNS: dict[str, tuple[str, ...]] = {
    table: tuple(f.name for f in fields(cls) if f.name != "user_data")
    for table, cls in FACT_TYPES.items()}
ID_COLUMN: dict[str, str] = {table: columns[0] for table, columns in COLUMNS.items()}

# Why a record was refused; the label of gim_loader_bad_records_total (with the reasons of
# gim_faust.models.facts.REFUSALS).
NOT_JSON = "not_json"
NOT_A_FACT = "not_a_fact"


def decode(value: bytes | None) -> Fact:
    """The fact a record value holds; :class:`BadInputError` if it holds none: not JSON,
    not an object, or not a fact as :func:`gim_faust.models.facts.from_record` reads it strictly
    (every field present, of its declared type, fitting the database column)."""
    if value is None:
        raise BadInputError(NOT_JSON, "empty value (tombstone)")
    try:
        obj = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise BadInputError(NOT_JSON, str(exc)[:200]) from None
    if not isinstance(obj, dict):
        raise BadInputError(NOT_A_FACT, f"a JSON {type(obj).__name__}, not an object")
    return from_record(obj, strict=True)


def newest(facts: Iterable[Fact]) -> dict[str, list[Fact]]:
    """Per table (in :data:`TABLE_ORDER`), the highest version of each row, sorted by id.

    Which version is kept is :func:`gim_faust.models.facts.supersedes`, the rule of the GSP too.
    """
    best: dict[tuple[str, str], Fact] = {}
    for fact in facts:
        key = (fact.table, fact.id)
        if supersedes(fact, best.get(key)):
            best[key] = fact
    out: dict[str, list[Fact]] = {table: [] for table in TABLE_ORDER}
    for (table, _), fact in sorted(best.items(), key=_sort_key):
        out[table].append(fact)
    return {table: rows for table, rows in out.items() if rows}


def _sort_key(item: tuple[tuple[str, str], Fact]) -> tuple[int, Any]:
    (table, _), fact = item
    # Sort by the id column's own type: resource_ and reason keys are bigints in the database,
    # where "10" < "9" as text would disagree with the index order.
    return TABLE_ORDER.index(table), getattr(fact, ID_COLUMN[table])


def date_time_keys(rows: Mapping[str, list[Fact]]) -> list[int]:
    """The distinct ``start_date_time_key`` values of the fact rows, ascending."""
    return sorted({fact.start_date_time_key for table in FACT_TABLES  # type: ignore[union-attr]
                   for fact in rows.get(table, ())})


# One getter per table: the hot loop of COPY calls it once per row.
ROW: dict[str, Callable[[Fact], tuple[Any, ...]]] = {
    table: attrgetter(*columns) for table, columns in COLUMNS.items()}


def row(fact: Fact) -> tuple[Any, ...]:
    """The fact's values in :data:`COLUMNS` order, for ``COPY``."""
    return ROW[fact.table](fact)

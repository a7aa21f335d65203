"""``irf_user_data``: the user data of a batch's ended parties, written in the batch's
transaction right after the party rows (contract ``user-data.md``, "In the Info Mart").

A party's fact record carries its interaction's kept user data, by column, from the moment
it ended; each of its versions (the after-call-work join's too) makes the same row, which
mirrors the party row's identity, ``end_ts``, ``active_flag`` and ``version`` and so follows
the same upsert: replays and repeats change nothing.

The columns are the Config Adapter's (one per kept key, added before the key is published),
so they are read from the table, once per connection and again when a record names a column
not seen yet. A value whose column does not exist (an Info Mart restored to an older schema
than the configuration) is left out with a warning rather than stalling the loader.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import psycopg
from gim_faust.loaders.records import USER_DATA_TABLE as TABLE
from gim_faust.loaders.upsert_sql import upsert
from psycopg import sql

from gim_faust.models.facts import Fact

log = logging.getLogger(__name__)

PARTY_COLUMNS = ("interaction_resource_id", "interaction_id", "start_date_time_key", "start_ts",
                 "end_ts", "active_flag", "version")


def rows(parties: Iterable[Fact]) -> list[dict[str, Any]]:
    """The irf_user_data row of each ended party that holds user data, with its values."""
    out = []
    for party in parties:
        user_data = getattr(party, "user_data", None)
        if user_data and getattr(party, "end_ts", None) is not None:
            row = {column: getattr(party, column) for column in PARTY_COLUMNS}
            row.update(user_data)
            out.append(row)
    return out


class UserDataTable:
    """The table's columns as one connection last read them, and the upsert that uses them."""

    def __init__(self) -> None:
        self._types: dict[str, str] = {}

    def forget(self) -> None:
        """A new connection reads the columns again."""
        self._types = {}

    def write(self, cur: psycopg.Cursor[Any], batch: Sequence[dict[str, Any]],
              audit: int) -> tuple[int, int]:
        """Upserts ``batch``; (inserted, updated)."""
        columns = self._columns(cur, {c for row in batch for c in row})
        typed = sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(c),
                                                          sql.SQL(self._types[c]))
                                   for c in columns)
        source = sql.SQL("jsonb_to_recordset(%(rows)s::jsonb) AS r({})").format(typed)
        statement = upsert(TABLE, PARTY_COLUMNS[0], columns, source, versioned=True)
        counted = cur.execute(statement, {"audit": audit, "rows": orjson.dumps(
            [{c: row.get(c) for c in columns} for row in batch]).decode()}).fetchone()
        assert counted is not None
        return counted[0], counted[1]

    def _columns(self, cur: psycopg.Cursor[Any], named: set[str]) -> list[str]:
        """The columns of ``named`` that the table has (the party's first), in a fixed
        order; re-reads the table when one is new to this writer."""
        if not named <= self._types.keys():
            self._types = dict(cur.execute(
                "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
                (TABLE,)).fetchall())
            unknown = named - self._types.keys()
            if unknown:
                log.warning("%s has no columns %s (yet): their values are left out; the Config "
                            "Adapter adds a kept key's column before it publishes the key",
                            TABLE, sorted(unknown))
        return [*PARTY_COLUMNS, *sorted(named & self._types.keys() - set(PARTY_COLUMNS))]

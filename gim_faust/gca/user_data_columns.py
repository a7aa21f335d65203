"""Which user-data mappings GCA publishes, and the ``irf_user_data`` columns they need
(contract ``user-data.md``, "Which keys the Info Mart keeps").

GCA adds the column of a new mapping to the Info Mart before it publishes the mapping, so by
the time a Stream Processor fills it and a loader writes it, the column exists. Columns are
never dropped or retyped: removing a mapping keeps its column and its old values. A mapping
the contract does not allow is left out of what GCA publishes, and logged once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from psycopg import sql

from gim_faust import postgres
from gim_faust.gca.infomart import LOCK_KEY, LOCK_TIMEOUT
from gim_faust.models.facts import COLUMN_NAME

log = logging.getLogger(__name__)

TABLE = "irf_user_data"
# The columns irf_user_data has for its own purposes (migration 0004): no mapping may take one.
RESERVED = frozenset({"interaction_resource_id", "interaction_id", "start_date_time_key",
                      "start_ts", "end_ts", "active_flag", "version", "create_audit_key",
                      "update_audit_key"})
SQL_TYPES = {"text": "text", "integer": "bigint", "numeric": "numeric"}

Mappings = Mapping[str, Mapping[str, Any]]  # key_name -> {column, data_type, max_length}


@dataclass
class Plan:
    """The mappings to publish, the columns to add for them, and the mappings left out."""

    kept: dict[str, dict[str, Any]] = field(default_factory=dict)
    added: list[tuple[str, str]] = field(default_factory=list)  # (column, SQL type)
    ignored: dict[str, str] = field(default_factory=dict)       # key_name -> why


def plan(mappings: Mappings, columns: Mapping[str, str]) -> Plan:
    """Pure: which of ``mappings`` to keep, given the table's ``columns`` (name -> type).
    Keys are taken in name order, so of two mappings to one column the first one wins,
    whatever order the database returned them in."""
    out = Plan()
    taken: dict[str, str] = {}
    for key in sorted(mappings):
        mapping = mappings[key]
        column, sql_type = mapping["column"], SQL_TYPES[mapping["data_type"]]
        if not COLUMN_NAME.fullmatch(column):
            out.ignored[key] = f"column name {column!r} does not match ^[a-z][a-z0-9_]{{0,62}}$"
        elif column in RESERVED:
            out.ignored[key] = f"{TABLE}.{column} is a column of its own"
        elif column in taken:
            out.ignored[key] = f"column {column!r} already holds key {taken[column]!r}"
        elif columns.get(column, sql_type) != sql_type:
            out.ignored[key] = (f"{TABLE}.{column} exists as {columns[column]}, not "
                                f"{sql_type} (columns are never retyped)")
        else:
            taken[column] = key
            out.kept[key] = dict(mapping)
            if column not in columns:
                out.added.append((column, sql_type))
    return out


async def sync(conninfo: str, mappings: Mappings) -> Plan:
    """Reads the table's columns, adds those the valid mappings need, and says which
    mappings to publish. Under GCA's lock, so two GCAs of a tenant never race on a column."""
    conn = await postgres.connect_async(conninfo, "gim-faust gca")
    async with postgres.translated(
            conninfo, f"adding user-data columns to {TABLE}",
            schema_hint="run `gim-faust infomart migrate`",
            grant_hint=f"make the account GCA uses the owner of {TABLE}, which GCA alters"):
        async with conn:
            async with conn.transaction():
                await conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                await postgres.transaction_lock(conn, LOCK_KEY)
                rows = await (await conn.execute(
                    "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                    "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
                    (TABLE,))).fetchall()
                result = plan(mappings, dict(rows))
                for column, sql_type in result.added:
                    await conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}")
                                       .format(sql.Identifier(TABLE), sql.Identifier(column),
                                               sql.SQL(sql_type)))
                    log.info("added column %s.%s (%s) for user-data key %r", TABLE, column,
                             sql_type, next(k for k, m in result.kept.items()
                                            if m["column"] == column))
    return result

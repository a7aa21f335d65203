"""The one upsert every table the loader writes goes through; it returns (inserted, updated).

A row is new when its create_audit_key is this batch's: an update keeps the old one, and a
row is never written twice in one batch. (``xmax = 0`` would say the same, but PostgreSQL
does not return system columns from a partitioned table.)
"""

from __future__ import annotations

from collections.abc import Sequence

from psycopg import sql


def upsert(table: str, key: str, columns: Sequence[str], source: sql.Composable,
           versioned: bool) -> sql.Composed:
    """Moves ``source``'s rows (``columns``, ``key`` among them) into ``table``.

    ``versioned``: a fact-like row (primary key ``key`` and ``start_ts``) that only a higher
    ``version`` with other content replaces. Otherwise a dimension row, added if absent and
    never changed here: the Config Adapter owns configured rows, and a placeholder's or
    reason code's content is fixed by its key.
    """
    ident = sql.Identifier(key)
    names = sql.SQL(", ").join(map(sql.Identifier, columns))
    insert = sql.SQL(
        "INSERT INTO {target} AS t ({names}, create_audit_key, update_audit_key) "
        "SELECT {names}, %(audit)s::bigint, %(audit)s::bigint FROM {source} ORDER BY {key} "
    ).format(target=sql.Identifier(table), names=names, source=source, key=ident)
    conflict: sql.Composable
    if versioned:
        changing = [c for c in columns if c not in (key, "start_ts")]
        assignments = sql.SQL(", ").join(
            sql.SQL("{0} = excluded.{0}").format(sql.Identifier(c))
            for c in (*changing, "update_audit_key"))
        # A higher version whose content equals the row's changes nothing: the after-call-work
        # join may number the same row differently in another delivery order (a replay).
        content = [c for c in changing if c != "version"]
        conflict = sql.SQL(
            "ON CONFLICT ({key}, start_ts) DO UPDATE SET {assignments} "
            "WHERE excluded.version > t.version "
            "AND ({old}) IS DISTINCT FROM ({new}) "
            "RETURNING t.create_audit_key = %(audit)s::bigint AS inserted"
        ).format(key=ident, assignments=assignments,
                 old=sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(c))
                                        for c in content),
                 new=sql.SQL(", ").join(sql.SQL("excluded.{}").format(sql.Identifier(c))
                                        for c in content))
    else:
        conflict = sql.SQL("ON CONFLICT DO NOTHING RETURNING true AS inserted")
    return sql.SQL(
        "WITH written AS ({insert}{conflict}) "
        "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) "
        "FROM written").format(insert=insert, conflict=conflict)

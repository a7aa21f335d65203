"""Brings the Info Mart's configuration dimensions and history in line with one reading.

One transaction per sync: it reads what the Info Mart holds, asks
:mod:`gim_faust.gca.dimensions` what to change, and writes only that, so a sync that finds
everything in place writes nothing (and adds no audit row). Rows written carry the audit key
of one ``ctl_audit_log`` row (``source = 'gca'``), so an export can find what changed.

A transaction-scoped advisory lock serializes two GCAs of the same tenant (a rolling update
briefly runs two): each then sees the other's committed rows and plans from them, instead of
both opening the same history row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import psycopg
from psycopg import sql

from gim_faust import postgres
from gim_faust.gca.changes import format_ts
from gim_faust.gca.dimensions import (
    CONFIG_RESOURCE_TYPES,
    Dimensions,
    GroupRow,
    ReasonRow,
    ResourceRow,
    SkillRow,
    plan_dimension,
    plan_history,
)

# b"gimgca\x00\x01": the lock of "GCA writes this Info Mart"; distinct from the migrator's.
LOCK_KEY = postgres.lock_key(b"gimgca\x00\x01")
# Waiting for the other GCA's sync (seconds of work at most) is fine; longer means it is stuck.
LOCK_TIMEOUT = "60s"


@dataclass(frozen=True)
class _Dimension:
    table: str
    key: str
    columns: tuple[str, ...]
    tenant_scoped: bool     # rows carry tenant_dbid, and deleted_ts marks deleted objects


_RESOURCE = _Dimension("resource_", "resource_key", ResourceRow._fields, True)
_GROUP = _Dimension("group_", "group_key", GroupRow._fields, True)
_SKILL = _Dimension("skill", "skill_key", SkillRow._fields, True)
_REASON = _Dimension("resource_state_reason", "resource_state_reason_key", ReasonRow._fields,
                     False)


async def _existing(conn: psycopg.AsyncConnection[Any], dim: _Dimension,
                    tenant_dbid: int) -> dict[Any, tuple[tuple[Any, ...], bool]]:
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in dim.columns)
    if dim.tenant_scoped:
        text = ("SELECT {key}, {columns}, deleted_ts IS NOT NULL FROM {table} "
                "WHERE tenant_dbid = %(tenant)s")
        if dim is _RESOURCE:
            # Placeholders (UnknownAgentLogin/UnknownDN) belong to the loader, not to GCA.
            text += " AND resource_type = ANY(%(types)s)"
    else:
        text = "SELECT {key}, {columns}, false FROM {table}"
    cursor = await conn.execute(
        sql.SQL(text).format(key=sql.Identifier(dim.key), columns=columns,
                             table=sql.Identifier(dim.table)),
        {"tenant": tenant_dbid, "types": list(CONFIG_RESOURCE_TYPES)})
    return {row[0]: (tuple(row[1:-1]), bool(row[-1])) for row in await cursor.fetchall()}


async def _write_dimension(conn: psycopg.AsyncConnection[Any], dim: _Dimension,
                           upsert: Sequence[tuple[Any, tuple[Any, ...]]], delete: Sequence[Any],
                           observed: datetime, audit: int) -> None:
    if upsert:
        names = (dim.key, *dim.columns, "create_audit_key", "update_audit_key")
        updates: list[sql.Composable] = [
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c))
            for c in (*dim.columns, "update_audit_key")]
        if dim.tenant_scoped:
            updates.append(sql.SQL("deleted_ts = NULL"))
        statement = sql.SQL(
            "INSERT INTO {table} ({names}) VALUES ({values}) "
            "ON CONFLICT ({key}) DO UPDATE SET {updates}").format(
            table=sql.Identifier(dim.table),
            names=sql.SQL(", ").join(sql.Identifier(n) for n in names),
            values=sql.SQL(", ").join(sql.Placeholder() for _ in names),
            key=sql.Identifier(dim.key), updates=sql.SQL(", ").join(updates))
        async with conn.cursor() as cursor:
            await cursor.executemany(statement, [(key, *row, audit, audit)
                                                 for key, row in upsert])
    if delete:
        await conn.execute(
            sql.SQL("UPDATE {table} SET deleted_ts = %s, update_audit_key = %s "
                    "WHERE {key} = ANY(%s) AND deleted_ts IS NULL").format(
                table=sql.Identifier(dim.table), key=sql.Identifier(dim.key)),
            (observed, audit, list(delete)))


async def _open_rows(conn: psycopg.AsyncConnection[Any], table: str, other: str,
                     value: str | None) -> dict[tuple[int, int], Any]:
    columns = [sql.Identifier("resource_key"), sql.Identifier(other)]
    if value:
        columns.append(sql.Identifier(value))
    cursor = await conn.execute(sql.SQL("SELECT {} FROM {} WHERE end_ts IS NULL").format(
        sql.SQL(", ").join(columns), sql.Identifier(table)))
    return {(r[0], r[1]): (r[2] if value else None) for r in await cursor.fetchall()}


async def _write_history(conn: psycopg.AsyncConnection[Any], table: str, other: str,
                         value: str | None, end: Sequence[tuple[int, int]],
                         start: Sequence[tuple[tuple[int, int], Any]],
                         observed: datetime, audit: int) -> None:
    ident = sql.Identifier
    async with conn.cursor() as cursor:
        if end:
            # GREATEST: a clock that stepped back must not give a row that ends before it starts.
            await cursor.executemany(
                sql.SQL("UPDATE {} SET end_ts = GREATEST(start_ts, %s), update_audit_key = %s "
                        "WHERE resource_key = %s AND {} = %s AND end_ts IS NULL").format(
                    ident(table), ident(other)),
                [(observed, audit, rk, ok) for rk, ok in end])
        if start:
            names = ["resource_key", other, "start_ts", "create_audit_key", "update_audit_key"]
            reopen: list[sql.Composable] = [
                sql.SQL("end_ts = NULL"), sql.SQL("update_audit_key = EXCLUDED.update_audit_key")]
            if value:
                names.insert(2, value)
                reopen.append(sql.SQL("{0} = EXCLUDED.{0}").format(ident(value)))
            # A conflict means a row of the same key started at this very instant and was just
            # ended (two changes within one millisecond): reopen it with the newer value.
            statement = sql.SQL(
                "INSERT INTO {} ({}) VALUES ({}) "
                "ON CONFLICT (resource_key, {}, start_ts) DO UPDATE SET {}").format(
                ident(table), sql.SQL(", ").join(ident(n) for n in names),
                sql.SQL(", ").join(sql.Placeholder() for _ in names), ident(other),
                sql.SQL(", ").join(reopen))
            await cursor.executemany(statement, [
                (rk, ok, *((v,) if value else ()), observed, audit, audit)
                for (rk, ok), v in start])


async def sync(conninfo: str, dims: Dimensions, tenant_dbid: int,
               observed: datetime) -> dict[tuple[str, str], int]:
    """Makes the Info Mart hold ``dims`` as of ``observed``; rows written by (table, op).

    Ops: ``upsert`` and ``delete`` (marked deleted) for dimensions, ``end`` and ``start`` for
    history. Raises :class:`RetriableError` when the Info Mart cannot be written now and
    :class:`FatalError` when its schema is not the one this program writes.
    """
    conn = await postgres.connect_async(conninfo, "gim-faust gca")
    written: dict[tuple[str, str], int] = {}
    async with postgres.translated(
            conninfo, "writing the configuration dimensions",
            grant_hint="grant the account GCA uses SELECT, INSERT and UPDATE on the "
                       "dimension tables and ctl_audit_log, and USAGE on their sequences"):
        async with conn:
            async with conn.transaction():
                await conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                await postgres.transaction_lock(conn, LOCK_KEY)
                dim_plans = []
                for dim, wanted in ((_RESOURCE, dims.resources), (_GROUP, dims.groups),
                                    (_SKILL, dims.skills), (_REASON, dims.reasons)):
                    existing = await _existing(conn, dim, tenant_dbid)
                    plan = plan_dimension(existing, {k: tuple(v) for k, v in wanted.items()},
                                          deletes=dim.tenant_scoped)
                    dim_plans.append((dim, plan))
                history: list[tuple[str, str, str | None, Mapping[tuple[int, int], Any]]] = [
                    ("resource_group_fact_", "group_key", None, dims.memberships),
                    ("resource_skill_fact_", "skill_key", "skill_level", dims.skill_levels)]
                history_plans = []
                for table, other, value, wanted_rows in history:
                    current = await _open_rows(conn, table, other, value)
                    history_plans.append((table, other, value, plan_history(current, wanted_rows)))
                total = sum(len(p) for _, p in dim_plans) + \
                    sum(len(p) for *_, p in history_plans)
                if total == 0:
                    return written
                audit = (await (await conn.execute(
                    "INSERT INTO ctl_audit_log (source, rows, detail) VALUES ('gca', %s, %s) "
                    "RETURNING audit_key",
                    (total, orjson.dumps({"observed_ts": format_ts(observed),
                                          "tenant_dbid": tenant_dbid}).decode()))
                ).fetchone())[0]  # type: ignore[index]
                for dim, plan in dim_plans:
                    await _write_dimension(conn, dim, plan.upsert, plan.delete, observed, audit)
                    _count(written, dim.table, "upsert", len(plan.upsert))
                    _count(written, dim.table, "delete", len(plan.delete))
                for table, other, value, hplan in history_plans:
                    await _write_history(conn, table, other, value, hplan.end, hplan.start,
                                         observed, audit)
                    _count(written, table, "end", len(hplan.end))
                    _count(written, table, "start", len(hplan.start))
    return written


def _count(written: dict[tuple[str, str], int], table: str, op: str, n: int) -> None:
    if n:
        written[(table, op)] = written.get((table, op), 0) + n

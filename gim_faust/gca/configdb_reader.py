"""Reads one tenant's rows from the Configuration Database (contract ``config-db.sql``).

The database belongs to the contact center: GCA only reads it, in one transaction that is
``READ ONLY`` (the server refuses any write in it) and ``REPEATABLE READ`` (every table is read
at the same instant, so a person deleted between two SELECTs cannot leave a login pointing at
nobody). Either every table is read or the whole reading fails: a failed reading never reaches
the diff, so an outage can never look like deletions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gim_faust import postgres
from gim_faust.errors import FatalError
from gim_faust.gca.objects import COLUMNS

# One reading of a tenant is a dozen index-backed SELECTs; a minute means something is badly
# wrong (locks, a runaway server) and the poll should give up rather than pile up.
STATEMENT_TIMEOUT_MS = 60_000

# How each table's rows are restricted to the tenant: directly, or through the switch, person,
# login, DN or group that owns them. Rows are ordered by every column (a total order whatever
# the table's key) so a reading is reproducible.
_TENANT_FILTER: dict[str, tuple[str, str]] = {
    "cfg_switch": ("", "t.tenant_dbid = %(tenant)s"),
    "cfg_person": ("", "t.tenant_dbid = %(tenant)s"),
    "cfg_agent_login": ("JOIN cfg_switch s ON s.dbid = t.switch_dbid",
                        "s.tenant_dbid = %(tenant)s"),
    "cfg_login_info": ("JOIN cfg_agent_login a ON a.dbid = t.agent_login_dbid "
                       "JOIN cfg_switch s ON s.dbid = a.switch_dbid "
                       "JOIN cfg_person p ON p.dbid = t.person_dbid",
                       "s.tenant_dbid = %(tenant)s AND p.tenant_dbid = %(tenant)s"),
    "cfg_dn": ("JOIN cfg_switch s ON s.dbid = t.switch_dbid", "s.tenant_dbid = %(tenant)s"),
    "cfg_dn_annex": ("JOIN cfg_dn d ON d.dbid = t.dn_dbid "
                     "JOIN cfg_switch s ON s.dbid = d.switch_dbid",
                     "s.tenant_dbid = %(tenant)s"),
    "cfg_place": ("", "t.tenant_dbid = %(tenant)s"),
    "cfg_skill": ("", "t.tenant_dbid = %(tenant)s"),
    "cfg_skill_level": ("JOIN cfg_person p ON p.dbid = t.person_dbid "
                        "JOIN cfg_skill k ON k.dbid = t.skill_dbid",
                        "p.tenant_dbid = %(tenant)s AND k.tenant_dbid = %(tenant)s"),
    "cfg_group": ("", "t.tenant_dbid = %(tenant)s"),
    "cfg_group_member": ("JOIN cfg_group g ON g.dbid = t.group_dbid",
                         "g.tenant_dbid = %(tenant)s"),
    "cfg_enum_value": ("", "t.tenant_dbid = %(tenant)s"),
    "cfg_user_data_key": ("", "t.tenant_dbid = %(tenant)s"),
}


def _query(table: str) -> str:
    columns = ", ".join(f"t.{c}" for c in COLUMNS[table])
    join, where = _TENANT_FILTER[table]
    return f"SELECT {columns} FROM {table} t {join} WHERE {where} ORDER BY {columns}"


QUERIES: dict[str, str] = {table: _query(table) for table in COLUMNS}


@dataclass(frozen=True)
class TenantRows:
    tenant_dbid: int
    rows: dict[str, list[tuple[Any, ...]]]


async def read_tenant(conninfo: str, tenant: str) -> TenantRows:
    """Every row of ``tenant``, read in one read-only, repeatable-read transaction.

    Raises :class:`RetriableError` when the database cannot be read now (down, restarting,
    timeout) and :class:`FatalError` when it cannot be read as configured (no such tenant, no
    such table, no permission).
    """
    where = f"the Configuration Database ({postgres.describe(conninfo)})"
    conn = await postgres.connect_async(conninfo, "gim-faust gca")
    async with postgres.translated(
            conninfo, "reading the Configuration Database",
            schema_hint="GIM_CONFIG_DB_URL must name a database with the contract's cfg_* tables",
            grant_hint="grant the account GCA uses SELECT on the cfg_* tables"):
        async with conn:
            async with conn.transaction():
                # First statement of the transaction, as SET TRANSACTION requires.
                await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                await conn.execute(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}")
                found = await (await conn.execute(
                    "SELECT dbid FROM cfg_tenant WHERE name = %s", (tenant,))).fetchone()
                if found is None:
                    raise FatalError(f"tenant {tenant!r} does not exist in {where}: set "
                                     f"GIM_TENANT (or --tenant) to a cfg_tenant.name")
                tenant_dbid = found[0]
                rows: dict[str, list[tuple[Any, ...]]] = {}
                for table, query in QUERIES.items():
                    cursor = await conn.execute(query, {"tenant": tenant_dbid})
                    rows[table] = await cursor.fetchall()
    return TenantRows(tenant_dbid, rows)

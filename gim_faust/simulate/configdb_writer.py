"""The simulated center written into a Configuration Database (contract ``config-db.sql``).

Several tenants may share one database and a ``dbid`` is unique per table, so each tenant's
objects live in their own block of dbids: ``tenant dbid * 1,000,000 + a local number``. The
block depends only on the tenant row, so rewriting a tenant gives back the same dbids and GCA
sees no change; the rewrite is one transaction, so GCA never reads a half-written tenant.
The tenant's ``cfg_user_data_key`` rows say which keys of the simulated user data the Info
Mart keeps (:data:`gim_faust.simulate.user_data.KEPT`).
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import psycopg

from gim_faust import postgres
from gim_faust.errors import ConfigError, FatalError
from gim_faust.simulate import center, user_data
from gim_faust.simulate.options import SimOptions

BLOCK = 1_000_000
MAX_TENANT_DBID = 2_000  # the highest block that still fits PostgreSQL's integer

# Delete order: rows that point at others first (cascades handle logins' and groups' links).
_DELETE = (
    "DELETE FROM cfg_place WHERE tenant_dbid = %(t)s",
    "DELETE FROM cfg_login_info WHERE person_dbid IN "
    "(SELECT dbid FROM cfg_person WHERE tenant_dbid = %(t)s)",
    "DELETE FROM cfg_agent_login WHERE switch_dbid IN "
    "(SELECT dbid FROM cfg_switch WHERE tenant_dbid = %(t)s)",
    "DELETE FROM cfg_dn WHERE switch_dbid IN (SELECT dbid FROM cfg_switch WHERE tenant_dbid = %(t)s)",
    "DELETE FROM cfg_switch WHERE tenant_dbid = %(t)s",
    "DELETE FROM cfg_person WHERE tenant_dbid = %(t)s",
    "DELETE FROM cfg_skill WHERE tenant_dbid = %(t)s",
    "DELETE FROM cfg_group WHERE tenant_dbid = %(t)s",
    "DELETE FROM cfg_enum_value WHERE tenant_dbid = %(t)s",
    "DELETE FROM cfg_user_data_key WHERE tenant_dbid = %(t)s",
)


def rows(options: SimOptions, tenant_dbid: int) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tenant's center, per table, in insertion order."""
    base = tenant_dbid * BLOCK
    built = center.build(options)
    voice_switch, digital_switch = base + 1, base + 2
    out: dict[str, list[tuple[Any, ...]]] = {
        "cfg_switch": [(voice_switch, tenant_dbid, center.VOICE_SWITCH),
                       (digital_switch, tenant_dbid, center.DIGITAL_SWITCH)],
        "cfg_dn": [], "cfg_person": [], "cfg_agent_login": [], "cfg_login_info": [],
        "cfg_place": [], "cfg_skill": [], "cfg_skill_level": [], "cfg_group": [],
        "cfg_group_member": [], "cfg_enum_value": [],
        "cfg_user_data_key": [(tenant_dbid, *kept) for kept in user_data.KEPT]}
    dn_dbid: dict[str, int] = {}

    def dn(number: str, kind: str, name: str, switch: int) -> int:
        dn_dbid[number] = base + 100 + len(dn_dbid)
        out["cfg_dn"].append((dn_dbid[number], switch, number, kind, name))
        return dn_dbid[number]

    for point in center.ROUTING_POINTS:
        dn(point.number, "RoutingPoint", point.name, voice_switch)
    for queue in center.QUEUES:
        voice = queue.media == "voice"
        dn(queue.number, "ACDQueue" if voice else "InteractionQueue", queue.name,
           voice_switch if voice else digital_switch)
    skill_dbid = {q.skill: base + 10 + i for i, q in enumerate(center.QUEUES)}
    out["cfg_skill"] = [(dbid, tenant_dbid, name) for name, dbid in skill_dbid.items()]
    teams = (*center.TEAMS, center.DIGITAL_TEAM)
    group_dbid = {name: base + 30 + i for i, name in enumerate(teams)}
    out["cfg_group"] = [(dbid, tenant_dbid, name, "Agent") for name, dbid in group_dbid.items()]
    for i, (name, numbers) in enumerate(center.DN_GROUPS):
        dbid = base + 40 + i
        out["cfg_group"].append((dbid, tenant_dbid, name, "DN"))
        out["cfg_group_member"] += [(dbid, dn_dbid[n]) for n in numbers]
    out["cfg_enum_value"] = [(base + 50 + i, tenant_dbid, "NotReadyReason", code, shown)
                             for i, (code, shown) in enumerate(center.NOT_READY_REASONS)]
    for agent in built.agents:
        person, login = base + 200_000 + agent.index, base + 400_000 + agent.index
        out["cfg_person"].append((person, tenant_dbid, agent.employee_id, agent.user_name,
                                  agent.first_name, agent.last_name, True, 1))
        switch = digital_switch if agent.digital else voice_switch
        out["cfg_agent_login"].append((login, switch, agent.login))
        out["cfg_login_info"].append((person, login))
        if agent.extension is not None:
            extension = dn(agent.extension, "Extension", f"Ext {agent.extension}", voice_switch)
            out["cfg_place"].append((base + 600_000 + agent.index, tenant_dbid,
                                     f"Place {agent.extension}", extension))
        out["cfg_skill_level"] += [(person, skill_dbid[s], level) for s, level in agent.skills]
        out["cfg_group_member"].append((group_dbid[agent.team], person))
    return out


_INSERT_ORDER = ("cfg_switch", "cfg_dn", "cfg_place", "cfg_person", "cfg_agent_login",
                 "cfg_login_info", "cfg_skill", "cfg_skill_level", "cfg_group",
                 "cfg_group_member", "cfg_enum_value", "cfg_user_data_key")


def _tenant_dbid(conn: psycopg.Connection, tenant: str) -> int:
    found = conn.execute("SELECT dbid FROM cfg_tenant WHERE name = %s", (tenant,)).fetchone()
    if found is not None:
        return int(found[0])
    row = conn.execute("SELECT coalesce(max(dbid), 0) + 1 FROM cfg_tenant").fetchone()
    assert row is not None  # an aggregate without GROUP BY returns one row
    dbid = int(row[0])
    conn.execute("INSERT INTO cfg_tenant VALUES (%s, %s)", (dbid, tenant))
    return dbid


def contract_schema() -> str:
    """The contract's Configuration Database DDL (``config-db.sql``, shipped with the package)."""
    return resources.files(__package__).joinpath("config-db.sql").read_text()


def write_configuration(conninfo: str, options: SimOptions) -> None:
    """Create the contract's tables if the database has none, then replace the tenant's rows
    with the simulated center's, in one transaction."""
    try:
        with postgres.connect(conninfo, "gim-faust simulate", autocommit=False) as conn:
            schema = conn.execute("SELECT to_regclass('cfg_tenant')").fetchone()
            assert schema is not None  # a SELECT without FROM returns one row
            if schema[0] is None:
                conn.execute(contract_schema())
            tenant_dbid = _tenant_dbid(conn, options.tenant)
            if tenant_dbid > MAX_TENANT_DBID:
                raise ConfigError(f"tenant {options.tenant!r} has dbid {tenant_dbid}: the "
                                  f"simulator only writes tenants with dbids up to "
                                  f"{MAX_TENANT_DBID}")
            for statement in _DELETE:
                conn.execute(statement, {"t": tenant_dbid})
            tables = rows(options, tenant_dbid)
            with conn.cursor() as cursor:
                for table in _INSERT_ORDER:
                    if tables[table]:
                        marks = ", ".join(["%s"] * len(tables[table][0]))
                        cursor.executemany(f"INSERT INTO {table} VALUES ({marks})",
                                           tables[table])
    except postgres.ALREADY_THERE as exc:
        raise ConfigError(f"the Configuration Database ({postgres.describe(conninfo)}) already "
                          f"uses dbids of tenant {options.tenant!r}'s block for other rows: "
                          f"{postgres.one_line(exc)}") from None
    except postgres.Error as exc:
        raise postgres.translate(exc, conninfo, "writing the simulated configuration",
                                 otherwise=FatalError) from None

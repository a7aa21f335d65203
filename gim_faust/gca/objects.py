"""The configuration objects GCA publishes, built from the rows of one tenant.

Pure: rows in (as tuples in the column order of contract ``config-db.sql``), objects out.
Association tables fold into their owner so every object has one ``(kind, dbid)`` key:
skill levels into the person, memberships into the group, login holders into the login,
a DN's options (``cfg_dn_annex``) into the DN. A change to any of them republishes only that
owner.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Rows = Mapping[str, Sequence[tuple[Any, ...]]]
ObjectKey = tuple[str, int]

# The tables GCA reads, with the columns it selects, in contract order.
COLUMNS: dict[str, tuple[str, ...]] = {
    "cfg_switch": ("dbid", "tenant_dbid", "name"),
    "cfg_person": ("dbid", "tenant_dbid", "employee_id", "user_name", "first_name",
                   "last_name", "is_agent", "state"),
    "cfg_agent_login": ("dbid", "switch_dbid", "login_code"),
    "cfg_login_info": ("person_dbid", "agent_login_dbid"),
    "cfg_dn": ("dbid", "switch_dbid", "number", "type", "name"),
    "cfg_dn_annex": ("dn_dbid", "section", "option", "value"),
    "cfg_place": ("dbid", "tenant_dbid", "name", "dn_dbid"),
    "cfg_skill": ("dbid", "tenant_dbid", "name"),
    "cfg_skill_level": ("person_dbid", "skill_dbid", "level"),
    "cfg_group": ("dbid", "tenant_dbid", "name", "type"),
    "cfg_group_member": ("group_dbid", "member_dbid"),
    "cfg_enum_value": ("dbid", "tenant_dbid", "enum", "name", "display_name"),
    "cfg_user_data_key": ("tenant_dbid", "key_name", "column_name", "data_type", "max_length"),
}
# The one object that holds every cfg_user_data_key mapping of the tenant (keyed by the
# tenant's dbid: the table has no dbid of its own). GCA publishes only the valid ones
# (gca/user_data_columns.py).
USER_DATA_KEYS = "user_data_keys"


def _dicts(rows: Rows, table: str) -> list[dict[str, Any]]:
    return [dict(zip(COLUMNS[table], row, strict=True)) for row in rows.get(table, ())]


def build_objects(rows: Rows) -> dict[ObjectKey, dict[str, Any]]:
    """Every object of the tenant, keyed by ``(kind, dbid)``."""
    switches = {s["dbid"]: s["name"] for s in _dicts(rows, "cfg_switch")}
    holders: dict[int, int] = {}
    for link in sorted(_dicts(rows, "cfg_login_info"), key=lambda r: r["person_dbid"]):
        holders.setdefault(link["agent_login_dbid"], link["person_dbid"])
    logins_of: dict[int, list[str]] = {}
    objects: dict[ObjectKey, dict[str, Any]] = {}
    for login in _dicts(rows, "cfg_agent_login"):
        holder = holders.get(login["dbid"])
        objects[("agent_login", login["dbid"])] = {
            "login_code": login["login_code"], "switch_dbid": login["switch_dbid"],
            "switch_name": switches.get(login["switch_dbid"]), "person_dbid": holder}
        if holder is not None:
            logins_of.setdefault(holder, []).append(login["login_code"])
    skills: dict[int, dict[str, int]] = {}
    for level in _dicts(rows, "cfg_skill_level"):
        skills.setdefault(level["person_dbid"], {})[str(level["skill_dbid"])] = level["level"]
    for person in _dicts(rows, "cfg_person"):
        dbid = person.pop("dbid")
        person["skills"] = dict(sorted(skills.get(dbid, {}).items()))
        person["login_codes"] = sorted(logins_of.get(dbid, []))
        objects[("person", dbid)] = person
    options = _dn_options(rows)
    for dn in _dicts(rows, "cfg_dn"):
        dbid = dn.pop("dbid")
        dn["switch_name"] = switches.get(dn["switch_dbid"])
        if dbid in options:
            dn["options"] = options[dbid]
        objects[("dn", dbid)] = dn
    members: dict[int, list[int]] = {}
    for member in _dicts(rows, "cfg_group_member"):
        members.setdefault(member["group_dbid"], []).append(member["member_dbid"])
    for group in _dicts(rows, "cfg_group"):
        dbid = group.pop("dbid")
        group["members"] = sorted(members.get(dbid, []))
        objects[("group", dbid)] = group
    for kind, table in (("skill", "cfg_skill"), ("place", "cfg_place"),
                        ("enum_value", "cfg_enum_value")):
        for obj in _dicts(rows, table):
            objects[(kind, obj.pop("dbid"))] = obj
    for dbid, name in switches.items():
        objects[("switch", dbid)] = {"name": name}
    for mapping in _dicts(rows, "cfg_user_data_key"):
        kept = objects.setdefault((USER_DATA_KEYS, mapping["tenant_dbid"]), {"keys": {}})
        kept["keys"][mapping["key_name"]] = {"column": mapping["column_name"],
                                             "data_type": mapping["data_type"],
                                             "max_length": mapping["max_length"]}
    return objects


def _dn_options(rows: Rows) -> dict[int, dict[str, dict[str, str]]]:
    """Each DN's ``cfg_dn_annex`` rows as ``{section: {option: value}}``, sorted, every
    section kept (which of them GIM reads is for gca/dimensions.py to say).

    A DN without rows gets no ``options`` key at all rather than an empty one, so DN objects
    published before GCA read the table compare equal to today's: an upgrade republishes only
    the DNs that have options."""
    options: dict[int, dict[str, dict[str, str]]] = {}
    for row in sorted(_dicts(rows, "cfg_dn_annex"), key=lambda r: (r["section"], r["option"])):
        sections = options.setdefault(row["dn_dbid"], {})
        sections.setdefault(row["section"], {})[row["option"]] = row["value"]
    return options

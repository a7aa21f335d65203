"""The Info Mart's configuration dimensions and history, as configuration says they should be.

Pure: :func:`desired` turns the objects of one reading into the rows the Info Mart should hold
(contract ``infomart.md``, "Dimensions"); :func:`plan_dimension` and :func:`plan_history`
compare that with what the Info Mart holds and say which rows to write. The writer
(:mod:`gim_faust.gca.infomart`) only reads, calls these and executes the plan.

Comparing with the Info Mart itself, not with the previous snapshot, is what makes a repeated
sync harmless: after a crash between the Info Mart commit and the snapshot write, the next
cycle finds every row already in place and writes nothing, so history never gets a second
"end" or a duplicate "start".

Choices (docs/gca.md):

- every person is a ``resource_`` row of type ``Agent`` (the contract: "one row per person"),
  ``resource_name`` = ``user_name`` (never null, unique in practice, the name agents log in
  with; first and last names have their own columns). Login codes are resolved to persons
  on the config topic (``agent_login`` objects name their person) and in every fact (the
  resource of a login is its person), so ``resource_`` has no row per login;
- a DN's ``resource_name`` is its ``name``, else its number;
- a DN's ``service_level_threshold`` and ``short_abandon_threshold`` are its own (contract
  ``aggregates.md``, "Thresholds"), null where it has none or an invalid one (the tenant's
  default applies); :func:`dn_thresholds` says which options count and why others do not;
- a not-ready reason's ``reason_name`` is ``display_name``, else the code itself;
- a group member that is not an object of the group's type (a member row whose person or DN
  is gone: ``cfg_group_member`` has no foreign key) is not a member in the Info Mart, so a
  deleted person's memberships end even if the Configuration Database left the row behind;
  skill levels likewise need their skill.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

from gim_faust.gca.objects import ObjectKey
from gim_faust.transforms.keys import dn_key, person_key, reason_key

AGENT = "Agent"
DN_TYPES = ("Extension", "ACDQueue", "RoutingPoint", "VirtualQueue", "InteractionQueue")
CONFIG_RESOURCE_TYPES = (AGENT, *DN_TYPES)
NOT_READY_REASON = "NotReadyReason"
# Contract aggregates.md, "Thresholds": the cfg_dn_annex section that is GIM's, and the
# options in it by which a DN overrides the tenant's thresholds, in seconds.
THRESHOLD_SECTION = "gim"
SERVICE_LEVEL = "service-level-threshold"
SHORT_ABANDON = "short-abandon-threshold"
# The largest value resource_'s threshold columns (integer) hold, and a string of digits
# that may be one: leading zeros apart, ten digits at most.
THRESHOLD_MAX = 2**31 - 1
_DIGITS = re.compile(r"0*([0-9]{1,10})")


class ResourceRow(NamedTuple):
    """The columns of ``resource_`` GCA owns, in this order (after ``resource_key``)."""

    resource_type: str
    resource_name: str | None
    employee_id: str | None
    user_name: str | None
    agent_first_name: str | None
    agent_last_name: str | None
    dn_number: str | None
    switch_name: str | None
    config_dbid: int
    tenant_dbid: int
    service_level_threshold: int | None = None
    short_abandon_threshold: int | None = None


class GroupRow(NamedTuple):
    group_name: str
    group_type: str
    tenant_dbid: int


class SkillRow(NamedTuple):
    skill_name: str
    tenant_dbid: int


class ReasonRow(NamedTuple):
    reason_code: str
    reason_name: str | None


@dataclass(frozen=True)
class Dimensions:
    """What the Info Mart should hold for one reading of configuration."""

    resources: dict[int, ResourceRow]
    groups: dict[int, GroupRow]
    skills: dict[int, SkillRow]
    reasons: dict[int, ReasonRow]
    # (resource_key, group_key) -> None: a set with the shape plan_history wants.
    memberships: dict[tuple[int, int], None]
    # (resource_key, skill_key) -> skill_level
    skill_levels: dict[tuple[int, int], int]


def desired(objects: Mapping[ObjectKey, Mapping[str, Any]], tenant_dbid: int) -> Dimensions:
    """The dimension rows and current history rows that ``objects`` call for."""
    of_kind: dict[str, dict[int, Mapping[str, Any]]] = {}
    for (kind, dbid), obj in objects.items():
        of_kind.setdefault(kind, {})[dbid] = obj
    persons, dns = of_kind.get("person", {}), of_kind.get("dn", {})
    skills, groups = of_kind.get("skill", {}), of_kind.get("group", {})

    resources: dict[int, ResourceRow] = {}
    for dbid, p in persons.items():
        resources[person_key(dbid)] = ResourceRow(
            AGENT, p["user_name"], p["employee_id"], p["user_name"], p.get("first_name"),
            p.get("last_name"), None, None, dbid, tenant_dbid)
    for dbid, d in dns.items():
        own = dn_thresholds(d.get("options", {})).valid
        resources[dn_key(dbid)] = ResourceRow(
            d["type"], d.get("name") or d["number"], None, None, None, None, d["number"],
            d.get("switch_name"), dbid, tenant_dbid, own.get(SERVICE_LEVEL),
            own.get(SHORT_ABANDON))

    reasons: dict[int, ReasonRow] = {}
    for obj in of_kind.get("enum_value", {}).values():
        if obj.get("enum") == NOT_READY_REASON:
            code = obj["name"]
            reasons[reason_key(code)] = ReasonRow(code, obj.get("display_name") or code)

    memberships: dict[tuple[int, int], None] = {}
    key_of: Callable[[int], int]
    for group_dbid, g in groups.items():
        if g["type"] == AGENT:
            members, key_of = persons, person_key
        else:
            members, key_of = dns, dn_key
        for member in g.get("members", ()):
            if member in members:
                memberships[(key_of(member), group_dbid)] = None

    levels: dict[tuple[int, int], int] = {}
    for dbid, p in persons.items():
        for skill, level in p.get("skills", {}).items():
            if int(skill) in skills:
                levels[(person_key(dbid), int(skill))] = level

    return Dimensions(
        resources=resources,
        groups={dbid: GroupRow(g["name"], g["type"], tenant_dbid) for dbid, g in groups.items()},
        skills={dbid: SkillRow(s["name"], tenant_dbid) for dbid, s in skills.items()},
        reasons=reasons, memberships=memberships, skill_levels=levels)


class IgnoredOption(NamedTuple):
    """An option of a DN's ``gim`` section that does not count, and why."""

    option: str
    value: str
    why: str


class Thresholds(NamedTuple):
    """A DN's own thresholds, and the options left out."""

    valid: dict[str, int]           # option -> seconds
    ignored: list[IgnoredOption]


def dn_thresholds(options: Mapping[str, Mapping[str, str]]) -> Thresholds:
    """A DN's own thresholds among its ``{section: {option: value}}``, and the options of
    GIM's section that do not count, with why (the caller logs them).

    Other sections belong to other applications: not GIM's to judge, so not reported. An
    option GIM does not know is reported, because it is most likely a misspelt threshold.
    """
    valid: dict[str, int] = {}
    ignored: list[IgnoredOption] = []
    for option, value in sorted(options.get(THRESHOLD_SECTION, {}).items()):
        seconds = _seconds(value)
        if option not in (SERVICE_LEVEL, SHORT_ABANDON):
            ignored.append(IgnoredOption(option, value,
                                         f"not an option of section {THRESHOLD_SECTION!r}"))
        elif seconds is None:
            ignored.append(IgnoredOption(option, value, "not a whole number of seconds from 0 "
                                                        f"to {THRESHOLD_MAX}"))
        else:
            valid[option] = seconds
    return Thresholds(valid, ignored)


def _seconds(value: str) -> int | None:
    """``value`` as a whole number of seconds resource_ can hold; None if it is not one.
    Leading zeros go before int(), which refuses strings of over 4,300 digits."""
    digits = _DIGITS.fullmatch(value)
    return int(digits[1]) if digits and int(digits[1]) <= THRESHOLD_MAX else None


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(frozen=True)
class DimensionPlan(Generic[K, V]):
    """Rows to insert or update (a revived row loses its ``deleted_ts``), rows to mark deleted."""

    upsert: list[tuple[K, V]]
    delete: list[K]

    def __len__(self) -> int:
        return len(self.upsert) + len(self.delete)


def plan_dimension(existing: Mapping[K, tuple[V, bool]], wanted: Mapping[K, V],
                   deletes: bool = True) -> DimensionPlan[K, V]:
    """Compare a dimension's rows (value, is-deleted) with the rows ``wanted``.

    Deleted objects are never removed (facts keep referring to them): they are marked. With
    ``deletes`` False (``resource_state_reason``, whose rows events create too) nothing is.
    """
    upsert = [(k, v) for k, v in wanted.items()
              if k not in existing or existing[k][0] != v or existing[k][1]]
    delete = ([k for k, (_, gone) in existing.items() if not gone and k not in wanted]
              if deletes else [])
    return DimensionPlan(sorted(upsert, key=_first), sorted(delete))  # type: ignore[type-var]


@dataclass(frozen=True)
class HistoryPlan(Generic[K, V]):
    """Current rows to end at the observation time, and rows to start at it."""

    end: list[K]
    start: list[tuple[K, V]]

    def __len__(self) -> int:
        return len(self.end) + len(self.start)


def plan_history(current: Mapping[K, V], wanted: Mapping[K, V]) -> HistoryPlan[K, V]:
    """Compare the open history rows (``end_ts`` null) with the ones ``wanted``.

    Contract ``infomart.md``: a change ends the current row and starts another; a deletion
    (the key is no longer wanted) ends it; a new key starts a row.
    """
    end = [k for k, v in current.items() if k not in wanted or wanted[k] != v]
    start = [(k, v) for k, v in wanted.items() if k not in current or current[k] != v]
    return HistoryPlan(sorted(end), sorted(start, key=_first))  # type: ignore[type-var]


def _first(item: tuple[Any, Any]) -> Any:
    return item[0]

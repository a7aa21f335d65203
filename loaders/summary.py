"""A day at a glance, by SQL on the Info Mart: what ``make demo`` prints, and the tables the
HTML report shares with it.

Queue and agent figures come from the aggregate tables (contract ``aggregates.md``), per local
hour of the tenant's time zone (``GIM_TIMEZONE``), with a total over the hours shown. The
definitions (the usual contact-center ones, stated so the figures can be checked):

- offered: ``entered``, stays at a queue (ACD, virtual or interaction queue; routing points
  are left out); accepted, abandoned: the columns of the same names;
- service level: ``accepted_within_sl`` / (``accepted`` + ``abandoned``): of the stays that
  ended answered or abandoned, the share answered within the queue's threshold
  (``GIM_SERVICE_LEVEL_THRESHOLD``, 20 s, unless the DN sets its own). A stay that ended
  otherwise (its agent did not answer, it was redirected or cleared) is left out: the call is
  offered again where it went;
- average speed of answer: ``accepted_wait_duration`` / ``accepted``;
- handled: the agent's ``accepted``, inbound calls that rang at the agent and were answered;
  average handle time: ``handle_duration`` (talk, hold and after-call work of all the
  agent's parties) / handled;
- occupancy: ``handle_duration`` / (``ready_duration`` + ``after_call_work_state_duration``):
  time busy over time available for work (the state stays READY while on a call here).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from gim_faust import postgres

QUEUES = "('ACDQueue', 'VirtualQueue', 'InteractionQueue')"

BY_MEDIA_AND_STATUS = """
SELECT m.media_name_code, f.status, count(*)
FROM interaction_fact f JOIN media_type m USING (media_type_key)
GROUP BY 1, 2 ORDER BY 1, 2"""

# One row per resource and hour, then its total (hour NULL): GROUPING SETS sums the same rows.
_PER_HOUR = """
GROUP BY GROUPING SETS ((r.resource_key, r.resource_name, h.interval_start_ts),
                        (r.resource_key, r.resource_name))
ORDER BY r.resource_name, r.resource_key, h.interval_start_ts NULLS LAST"""

QUEUE_HOURS = f"""
SELECT r.resource_name, h.interval_start_ts, sum(h.entered) AS offered,
       sum(h.accepted) AS accepted, sum(h.abandoned) AS abandoned,
       sum(h.accepted_within_sl)::numeric
           / nullif(sum(h.accepted) + sum(h.abandoned), 0) AS service_level,
       sum(h.accepted_wait_duration)::numeric / nullif(sum(h.accepted), 0) AS asa
FROM ag2_queue_hour h JOIN resource_ r USING (resource_key)
WHERE r.resource_type IN {QUEUES}""" + _PER_HOUR

AGENT_HOURS = """
SELECT r.resource_name, h.interval_start_ts, sum(h.accepted) AS handled,
       sum(h.handle_duration)::numeric / nullif(sum(h.accepted), 0) AS aht,
       sum(h.handle_duration)::numeric
           / nullif(sum(h.ready_duration) + sum(h.after_call_work_state_duration), 0)
           AS occupancy
FROM ag2_agent_hour h JOIN resource_ r USING (resource_key)
WHERE r.resource_type = 'Agent'""" + _PER_HOUR

Row = Sequence[Any]
Format = Callable[[Any], str]


def query(url: str, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    with postgres.connect(url, "gim-faust summary") as conn:
        return conn.execute(sql, params).fetchall()


def _count(url: str, table: str, sql: str, params: Sequence[Any] = ()) -> int:
    """The one number ``sql`` gives; 0 while ``table`` does not exist (the loader creates the
    schema when it starts)."""
    with postgres.connect(url, "gim-faust summary") as conn:
        exists = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()
        row = conn.execute(sql, params).fetchone() if exists and exists[0] else None
    return int(row[0]) if row else 0


def loaded_offsets(url: str, group: str) -> int:
    """How many fact-topic messages the loader has stored, over all partitions."""
    return _count(url, "ctl_kafka_offset", "SELECT coalesce(sum(next_offset), 0) "
                  "FROM ctl_kafka_offset WHERE consumer_group = %s", (group,))


def pending_intervals(url: str) -> int:
    """15-minute intervals whose aggregates wait to be recomputed: 0 once they reflect every
    loaded fact (the loader notes them in the transaction that stores the facts)."""
    return _count(url, "ctl_aggregate_pending", "SELECT count(*) FROM ctl_aggregate_pending")


# ------------------------------------------------------------------------------ formatting

def plain(value: Any) -> str:
    return "-" if value is None else str(value)


def pct(value: Any) -> str:
    return "-" if value is None else f"{float(value):.0%}"


def num(value: Any) -> str:
    return "-" if value is None else f"{float(value):.1f}"


def hour_label(start: datetime, zone: str) -> str:
    return start.astimezone(ZoneInfo(zone)).strftime("%H:%M")


def _by_resource(rows: Iterable[Row]) -> list[tuple[Any, dict[datetime, Row], Row]]:
    """(name, its rows by hour, its total row) per resource, from rows of :data:`QUEUE_HOURS`
    or :data:`AGENT_HOURS`: each resource's hours come first, then its total, so two
    resources of one name stay apart."""
    out: list[tuple[Any, dict[datetime, Row], Row]] = []
    hours: dict[datetime, Row] = {}
    for row in rows:
        if row[1] is None:
            out.append((row[0], hours, row))
            hours = {}
        else:
            hours[row[1]] = row
    return out


def _hours(resources: Sequence[tuple[Any, dict[datetime, Row], Row]]) -> list[datetime]:
    return sorted({hour for _, hours, _ in resources for hour in hours})


def _cell(row: Row | None, column: int, fmt: Format) -> str:
    """A resource's figure in an hour; "-" where it had no row, no activity."""
    return "-" if row is None else fmt(row[column])


QUEUE_FIGURES: tuple[tuple[str, int, Format], ...] = (
    ("offered", 2, plain), ("accepted", 3, plain), ("abandoned", 4, plain),
    ("service level", 5, pct), ("ASA (s)", 6, num))


def queue_grid(rows: Iterable[Row], zone: str) -> list[list[str]]:
    """Header, then per queue a line per figure: its value in each local hour, and in total."""
    queues = _by_resource(rows)
    hours = _hours(queues)
    out = [["queue", "", *(hour_label(h, zone) for h in hours), "total"]]
    for name, by_hour, total in queues:
        out += [[plain(name) if i == 0 else "", label,
                 *(_cell(by_hour.get(h), column, fmt) for h in hours), fmt(total[column])]
                for i, (label, column, fmt) in enumerate(QUEUE_FIGURES)]
    return out


def agent_grid(rows: Iterable[Row], zone: str) -> list[list[str]]:
    """Header, then per agent: calls handled in each local hour; handled, average handle
    time and occupancy over all of them."""
    agents = _by_resource(rows)
    hours = _hours(agents)
    out = [["agent", *(hour_label(h, zone) for h in hours), "handled", "AHT (s)", "occupancy"]]
    out += [[plain(name), *(_cell(by_hour.get(h), 2, plain) for h in hours), plain(total[2]),
             num(total[3]), pct(total[4])] for name, by_hour, total in agents]
    return out


def span(rows: Iterable[Row], zone: str) -> str:
    """The local dates the hours of ``rows`` fall on, for a heading: '' without hours."""
    dates = sorted({row[1].astimezone(ZoneInfo(zone)).date() for row in rows
                    if row[1] is not None})
    if not dates:
        return ""
    return str(dates[0]) if dates[0] == dates[-1] else f"{dates[0]} to {dates[-1]}"


def columns(grid: Sequence[Sequence[str]], left: int) -> list[str]:
    """The grid as aligned text lines: its first ``left`` columns to the left, the others
    (figures) to the right."""
    widths = [max(len(line[i]) for line in grid) for i in range(len(grid[0]))] if grid else []
    return ["  " + " ".join(cell.ljust(w) if i < left else cell.rjust(w)
                            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
                            ).rstrip() for line in grid]


def render(url: str, zone: str) -> str:
    """The summary as text tables, hours in the local time of ``zone`` (an IANA name)."""
    queues, agents = query(url, QUEUE_HOURS), query(url, AGENT_HOURS)
    when = ", ".join(filter(None, [zone, span([*queues, *agents], zone)]))
    return "\n".join([
        "", "Interactions by media and status",
        *columns([[str(v) for v in row] for row in query(url, BY_MEDIA_AND_STATUS)], 2),
        "", f"Queues per local hour ({when})", *columns(queue_grid(queues, zone), 2),
        "  (service level: accepted within the threshold / (accepted + abandoned); "
        "ASA: mean wait)",
        "", f"Agents: calls handled per local hour ({when})",
        *columns(agent_grid(agents, zone), 1)])

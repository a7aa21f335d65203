"""A day at a glance, computed by SQL on the Info Mart: what ``make demo`` prints.

Definitions (the usual contact-center ones, stated so the figures can be checked):

- offered: mediation segments at a queue (ACD, virtual or interaction queue);
  accepted: those whose delivered party was answered (``accepted_flag``);
  abandoned: those ended by the customer hanging up (result ABANDONED);
- average speed of answer: the mean ``mediation_duration`` of accepted segments;
- service level: accepted within 20 s of queueing, as a share of offered;
- handle time: talk + hold + after-call work of answered customer parties; average handle
  time divides it by ``customer_handle_count``;
- occupancy: handle time as a share of the time the agent was READY or in AFTER_CALL_WORK
  (the state stays READY while on a call in this model, so this is time busy over time
  available for work).
"""

from __future__ import annotations

from typing import Any

from gim_faust import postgres

QUEUES = "('ACDQueue', 'VirtualQueue', 'InteractionQueue')"

BY_MEDIA_AND_STATUS = """
SELECT m.media_name_code, f.status, count(*)
FROM interaction_fact f JOIN media_type m USING (media_type_key)
GROUP BY 1, 2 ORDER BY 1, 2"""

PER_QUEUE = f"""
SELECT r.resource_name, count(*) AS offered, sum(s.accepted_flag) AS accepted,
       count(*) FILTER (WHERE t.technical_result = 'ABANDONED') AS abandoned,
       avg(s.mediation_duration) FILTER (WHERE s.accepted_flag = 1) AS asa,
       count(*) FILTER (WHERE s.accepted_flag = 1 AND s.mediation_duration <= 20)::numeric
           / nullif(count(*), 0) AS service_level
FROM mediation_segment_fact s
JOIN resource_ r USING (resource_key)
LEFT JOIN technical_descriptor t USING (technical_descriptor_key)
WHERE r.resource_type IN {QUEUES}
GROUP BY 1 ORDER BY 1"""

PER_AGENT = """
WITH handled AS (
    SELECT resource_key, sum(customer_handle_count) AS handled,
           sum(talk_duration + hold_duration + after_call_work_duration)
               FILTER (WHERE customer_handle_count = 1) AS handle_s
    FROM interaction_resource_fact GROUP BY 1),
available AS (
    SELECT f.resource_key, sum(f.total_duration) AS available_s
    FROM sm_res_state_fact f JOIN resource_state s USING (resource_state_key)
    WHERE s.state_name IN ('READY', 'AFTER_CALL_WORK') GROUP BY 1)
SELECT r.resource_name, h.handled, h.handle_s::numeric / nullif(h.handled, 0) AS aht,
       h.handle_s::numeric / nullif(a.available_s, 0) AS occupancy
FROM handled h JOIN resource_ r USING (resource_key)
LEFT JOIN available a USING (resource_key)
WHERE r.resource_type = 'Agent'
ORDER BY 1"""


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    with postgres.connect(url, "gim-faust summary") as conn:
        return conn.execute(sql).fetchall()


def loaded_offsets(url: str, group: str) -> int:
    """How many fact-topic messages the loader has stored, over all partitions."""
    with postgres.connect(url, "gim-faust summary") as conn:
        table = conn.execute("SELECT to_regclass('ctl_kafka_offset')").fetchone()
        assert table is not None  # a SELECT without FROM returns one row
        if not table[0]:
            return 0
        row = conn.execute("SELECT coalesce(sum(next_offset), 0) FROM ctl_kafka_offset "
                           "WHERE consumer_group = %s", (group,)).fetchone()
    assert row is not None  # an aggregate without GROUP BY returns one row
    return int(row[0])


def _pct(value: Any) -> str:
    return "-" if value is None else f"{float(value):.0%}"


def _num(value: Any) -> str:
    return "-" if value is None else f"{float(value):.1f}"


def render(url: str) -> str:
    """The summary as text tables."""
    out = ["", "Interactions by media and status"]
    out += [f"  {media:<6} {status:<10} {count:>6}"
            for media, status, count in query(url, BY_MEDIA_AND_STATUS)]
    out += ["", "Queues        offered accepted abandoned  ASA (s)  service level (20 s)"]
    out += [f"  {name:<12} {offered:>6} {accepted:>8} {abandoned:>9} {_num(asa):>8}  "
            f"{_pct(sl):>8}" for name, offered, accepted, abandoned, asa, sl
            in query(url, PER_QUEUE)]
    out += ["", "Agents                  handled  AHT (s)  occupancy"]
    out += [f"  {name:<22} {handled:>7} {_num(aht):>8} {_pct(occ):>10}"
            for name, handled, aht, occ in query(url, PER_AGENT)]
    return "\n".join(out)

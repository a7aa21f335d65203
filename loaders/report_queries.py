"""The HTML report's own queries (``loaders/html_report.py`` renders their rows); the queue and
agent tables it shares with ``make demo`` are ``loaders/summary.py``'s.

- service level per local hour, all queues together, from ``ag2_queue_hour`` (the definition
  of ``summary``);
- agent states: every ``sm_res_state_fact`` interval, for the timeline;
- consultations per agent (contract ``consultations.md``), from the parties'
  ``resource_role``: consultations initiated (``INITIATED_CONSULT``) and received
  (``RECEIVED_CONSULT``), customers received by a consult transfer (``RECEIVED_TRANSFER``),
  conferences joined (``CONFERENCE_JOINED``), and consult talk time: the ``talk_duration`` of
  the agent's parties on consultations (both roles);
- handle time by customer segment (contract ``user-data.md``): the final customer parties
  (``customer_handle_count = 1``: answered, not internal) with the segment their
  interaction held when they ended (``irf_user_data``; none without a row), their number and
  mean talk + hold + after-call work.
"""

from __future__ import annotations

from typing import Any

from gim_faust.loaders import summary

SERVICE_LEVEL_SQL = f"""
SELECT h.interval_start_ts, sum(h.accepted) + sum(h.abandoned) AS answered_or_abandoned,
       sum(h.accepted_within_sl) AS within
FROM ag2_queue_hour h JOIN resource_ r USING (resource_key)
WHERE r.resource_type IN {summary.QUEUES}
GROUP BY 1 ORDER BY 1"""

AGENT_STATES_SQL = """
SELECT r.resource_name, st.state_name, f.start_ts, f.end_ts
FROM sm_res_state_fact f
JOIN resource_state st USING (resource_state_key)
JOIN resource_ r USING (resource_key)
WHERE r.resource_type IN ('Agent', 'UnknownAgentLogin')
ORDER BY 1, 3"""

CONSULTATIONS_SQL = """
SELECT r.resource_name,
       count(*) FILTER (WHERE f.resource_role = 'INITIATED_CONSULT') AS initiated,
       count(*) FILTER (WHERE f.resource_role = 'RECEIVED_CONSULT') AS received,
       count(*) FILTER (WHERE f.resource_role = 'RECEIVED_TRANSFER') AS transfers_received,
       count(*) FILTER (WHERE f.resource_role = 'CONFERENCE_JOINED') AS conferences_joined,
       coalesce(sum(f.talk_duration) FILTER (
           WHERE f.resource_role IN ('INITIATED_CONSULT', 'RECEIVED_CONSULT')), 0)
           AS consult_talk_s
FROM interaction_resource_fact f JOIN resource_ r USING (resource_key)
WHERE r.resource_type = 'Agent'
GROUP BY r.resource_key, r.resource_name ORDER BY r.resource_name, r.resource_key"""

# The irf_user_data column of the key the simulator (and docs/user-data.md) calls
# CustomerSegment; GCA adds it when cfg_user_data_key maps a key to it.
SEGMENT_COLUMN = "customer_segment"

BY_SEGMENT_SQL = f"""
SELECT u.{SEGMENT_COLUMN}, count(*) AS handled,
       avg(f.talk_duration + f.hold_duration + f.after_call_work_duration) AS aht
FROM interaction_resource_fact f
LEFT JOIN irf_user_data u USING (interaction_resource_id, start_ts)
WHERE f.customer_handle_count = 1 AND f.active_flag = 0
GROUP BY 1 ORDER BY 1 NULLS LAST"""


def by_segment(url: str) -> list[tuple[Any, ...]] | None:
    """The rows of :data:`BY_SEGMENT_SQL`; None when ``irf_user_data`` has no segment
    column, which is how a tenant that keeps no such key looks."""
    kept = summary.query(url, "SELECT 1 FROM pg_attribute WHERE attrelid = "
                         "to_regclass('irf_user_data') AND attname = %s AND NOT attisdropped",
                         (SEGMENT_COLUMN,))
    return summary.query(url, BY_SEGMENT_SQL) if kept else None

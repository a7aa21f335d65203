"""The aggregates' statements (contract ``aggregates.md``): each recomputes the rows of a set
of 15-minute intervals from the final fact rows, or rolls them up into local hours and days.

Every statement replaces what it covers (delete, then insert from the facts), so running it
again, or after any order and repetition of loads, gives the same rows: nothing is counted
twice. Parameters: ``keys`` (bigint[]: the intervals' date_time_key), ``lo``/``hi`` (the
first and last instant they cover, so that only the partitions of those days are read),
``sl``/``sa`` (the tenant's thresholds), ``audit`` (the recomputation's audit key).
"""

from __future__ import annotations

QUEUE_FIGURES = ("entered", "accepted", "abandoned", "short_abandoned", "redirected",
                 "accepted_within_sl", "abandoned_within_sl", "wait_duration",
                 "accepted_wait_duration", "abandoned_wait_duration", "max_accepted_wait")
AGENT_FIGURES = ("offered", "accepted", "rona", "transferred", "outbound_attempted",
                 "outbound_connected", "internal", "ring_duration", "talk_duration",
                 "hold_duration", "hold_count", "after_call_work_duration", "handle_duration",
                 "consult_initiated", "consult_received", "transfer_received",
                 "conference_joined", "consult_talk_duration", "logged_in_duration",
                 "ready_duration", "not_ready_duration", "after_call_work_state_duration")
REASON_FIGURES = ("not_ready_duration", "not_ready_count")
# family -> (its figures, the key columns beyond interval, resource and media)
FAMILIES = {"queue": (QUEUE_FIGURES, ()), "agent": (AGENT_FIGURES, ()),
            "agent_reason": (REASON_FIGURES, ("resource_state_reason_key",))}
TABLES = tuple(f"ag2_{family}_{grain}" for family in FAMILIES
               for grain in ("subhr", "hour", "day"))

QUEUE_SUBHR = """
DELETE FROM ag2_queue_subhr WHERE date_time_key = ANY(%(keys)s);
INSERT INTO ag2_queue_subhr (interval_start_ts, interval_length_s, date_time_key, resource_key,
    media_type_key, service_level_threshold, short_abandon_threshold, entered, accepted,
    abandoned, short_abandoned, redirected, accepted_within_sl, abandoned_within_sl,
    wait_duration, accepted_wait_duration, abandoned_wait_duration, max_accepted_wait,
    create_audit_key, update_audit_key)
SELECT to_timestamp(s.start_date_time_key), 900, s.start_date_time_key, s.resource_key,
       s.media_type_key, s.sl, s.sa,
       count(*),
       count(*) FILTER (WHERE s.accepted_flag = 1),
       count(*) FILTER (WHERE s.abandoned),
       count(*) FILTER (WHERE s.abandoned AND s.w < s.sa),
       count(*) FILTER (WHERE s.result = 'REDIRECTED'),
       count(*) FILTER (WHERE s.accepted_flag = 1 AND s.w <= s.sl),
       count(*) FILTER (WHERE s.abandoned AND s.w <= s.sl),
       coalesce(sum(s.w), 0),
       coalesce(sum(s.w) FILTER (WHERE s.accepted_flag = 1), 0),
       coalesce(sum(s.w) FILTER (WHERE s.abandoned), 0),
       coalesce(max(s.w) FILTER (WHERE s.accepted_flag = 1), 0), %(audit)s, %(audit)s
FROM (SELECT f.start_date_time_key, f.resource_key, f.media_type_key, f.accepted_flag,
             coalesce(f.mediation_duration, 0) AS w, t.technical_result AS result,
             t.technical_result = 'ABANDONED' AS abandoned,
             coalesce(r.service_level_threshold, %(sl)s) AS sl,
             coalesce(r.short_abandon_threshold, %(sa)s) AS sa
      FROM mediation_segment_fact f
      LEFT JOIN technical_descriptor t USING (technical_descriptor_key)
      LEFT JOIN resource_ r USING (resource_key)
      WHERE f.start_ts >= %(lo)s AND f.start_ts < %(hi)s
        AND f.start_date_time_key = ANY(%(keys)s) AND f.active_flag = 0) s
GROUP BY 3, 4, 5, 6, 7
"""

# Sessions and states split at the intervals' boundaries: the milliseconds of [start, end)
# in each interval (a row that starts in one also counts there, for not_ready_count; a row of
# no length counts in the interval that holds its start, even when that is the pass's first:
# hence ``end_ts >= lo``). Each row is paired only with the intervals it reaches (a series
# from the interval of its start to the one of its last instant, clipped to the pass),
# matched to the pass's keys by equality: pairing every row with every key cost 12 million
# comparisons for the day a million-event backlog closes (docs/aggregates.md, "Cost").
_SPANS = """
spans AS (
    SELECT k.key, x.resource_key, x.media_type_key, x.kind, x.reason,
           greatest(0, extract(epoch FROM least(x.end_ts, to_timestamp(k.key + 900))
                                      - greatest(x.start_ts, to_timestamp(k.key))) * 1000
                  )::bigint AS ms,
           x.start_ts >= to_timestamp(k.key) AS started
    FROM (SELECT resource_key, media_type_key, 'SESSION' AS kind, NULL::bigint AS reason,
                 start_ts, end_ts
          FROM sm_res_session_fact
          WHERE active_flag = 0 AND end_ts >= %(lo)s AND start_ts < %(hi)s
          UNION ALL
          SELECT f.resource_key, f.media_type_key, s.state_name, f.resource_state_reason_key,
                 f.start_ts, f.end_ts
          FROM sm_res_state_fact f JOIN resource_state s USING (resource_state_key)
          WHERE f.active_flag = 0 AND f.end_ts >= %(lo)s AND f.start_ts < %(hi)s) x
    CROSS JOIN LATERAL (SELECT floor(extract(epoch FROM x.start_ts) / 900)::bigint AS first,
                               ceil(extract(epoch FROM x.end_ts) / 900)::bigint - 1 AS last) b
    CROSS JOIN LATERAL generate_series(
        greatest(b.first * 900, extract(epoch FROM %(lo)s::timestamptz)::bigint),
        least(greatest(b.first, b.last) * 900,
              extract(epoch FROM %(hi)s::timestamptz)::bigint - 900),
        900) AS g(key)
    JOIN unnest(%(keys)s::bigint[]) AS k(key) ON k.key = g.key)
"""

AGENT_SUBHR = """
DELETE FROM ag2_agent_subhr WHERE date_time_key = ANY(%(keys)s);
WITH parties AS (
    SELECT f.start_date_time_key AS key, f.resource_key, f.media_type_key,
           count(*) FILTER (WHERE f.offered) AS offered,
           count(*) FILTER (WHERE f.offered AND f.customer_handle_count = 1) AS accepted,
           count(*) FILTER (WHERE t.technical_result = 'REDIRECTED') AS rona,
           count(*) FILTER (WHERE t.technical_result = 'TRANSFERRED') AS transferred,
           count(*) FILTER (WHERE f.interaction_type_key = 2) AS outbound_attempted,
           count(*) FILTER (WHERE f.interaction_type_key = 2
                              AND f.customer_handle_count = 1) AS outbound_connected,
           count(*) FILTER (WHERE f.interaction_type_key = 3) AS internal,
           sum(f.ring_duration) AS ring_duration, sum(f.talk_duration) AS talk_duration,
           sum(f.hold_duration) AS hold_duration, sum(f.hold_count) AS hold_count,
           sum(f.after_call_work_duration) AS after_call_work_duration,
           sum(f.talk_duration + f.hold_duration + f.after_call_work_duration)
               AS handle_duration,
           count(*) FILTER (WHERE f.role = 'INITIATED_CONSULT') AS consult_initiated,
           count(*) FILTER (WHERE f.role = 'RECEIVED_CONSULT') AS consult_received,
           count(*) FILTER (WHERE f.role = 'RECEIVED_TRANSFER') AS transfer_received,
           count(*) FILTER (WHERE f.role = 'CONFERENCE_JOINED') AS conference_joined,
           coalesce(sum(f.talk_duration) FILTER (
               WHERE f.role IN ('INITIATED_CONSULT', 'RECEIVED_CONSULT')), 0)
               AS consult_talk_duration
    FROM (SELECT *, coalesce(resource_role, 'RECEIVED') AS role,
                 interaction_type_key = 1 AND coalesce(resource_role, 'RECEIVED') = 'RECEIVED'
                     AS offered
          FROM interaction_resource_fact
          WHERE start_ts >= %(lo)s AND start_ts < %(hi)s
            AND start_date_time_key = ANY(%(keys)s) AND active_flag = 0) f
    LEFT JOIN technical_descriptor t USING (technical_descriptor_key)
    GROUP BY 1, 2, 3),
""" + _SPANS + """,
times AS (
    SELECT key, resource_key, media_type_key,
           round(coalesce(sum(ms) FILTER (WHERE kind = 'SESSION'), 0) / 1000.0)
               AS logged_in_duration,
           round(coalesce(sum(ms) FILTER (WHERE kind = 'READY'), 0) / 1000.0) AS ready_duration,
           round(coalesce(sum(ms) FILTER (WHERE kind = 'NOT_READY'), 0) / 1000.0)
               AS not_ready_duration,
           round(coalesce(sum(ms) FILTER (WHERE kind = 'AFTER_CALL_WORK'), 0) / 1000.0)
               AS after_call_work_state_duration
    FROM spans WHERE ms > 0 GROUP BY 1, 2, 3)
INSERT INTO ag2_agent_subhr (interval_start_ts, interval_length_s, date_time_key, resource_key,
    media_type_key, offered, accepted, rona, transferred, outbound_attempted,
    outbound_connected, internal, ring_duration, talk_duration, hold_duration, hold_count,
    after_call_work_duration, handle_duration, consult_initiated, consult_received,
    transfer_received, conference_joined, consult_talk_duration, logged_in_duration,
    ready_duration, not_ready_duration, after_call_work_state_duration, create_audit_key,
    update_audit_key)
SELECT to_timestamp(key), 900, key, resource_key, media_type_key,
       coalesce(p.offered, 0), coalesce(p.accepted, 0), coalesce(p.rona, 0),
       coalesce(p.transferred, 0), coalesce(p.outbound_attempted, 0),
       coalesce(p.outbound_connected, 0), coalesce(p.internal, 0),
       coalesce(p.ring_duration, 0), coalesce(p.talk_duration, 0),
       coalesce(p.hold_duration, 0), coalesce(p.hold_count, 0),
       coalesce(p.after_call_work_duration, 0), coalesce(p.handle_duration, 0),
       coalesce(p.consult_initiated, 0), coalesce(p.consult_received, 0),
       coalesce(p.transfer_received, 0), coalesce(p.conference_joined, 0),
       coalesce(p.consult_talk_duration, 0), coalesce(t.logged_in_duration, 0),
       coalesce(t.ready_duration, 0), coalesce(t.not_ready_duration, 0),
       coalesce(t.after_call_work_state_duration, 0), %(audit)s, %(audit)s
FROM parties p FULL JOIN times t USING (key, resource_key, media_type_key)
"""

REASON_SUBHR = """
DELETE FROM ag2_agent_reason_subhr WHERE date_time_key = ANY(%(keys)s);
WITH """ + _SPANS + """
INSERT INTO ag2_agent_reason_subhr (interval_start_ts, interval_length_s, date_time_key,
    resource_key, media_type_key, resource_state_reason_key, not_ready_duration,
    not_ready_count, create_audit_key, update_audit_key)
SELECT to_timestamp(key), 900, key, resource_key, media_type_key, reason,
       round(sum(ms) / 1000.0), count(*) FILTER (WHERE started), %(audit)s, %(audit)s
FROM spans WHERE kind = 'NOT_READY' AND reason IS NOT NULL AND (ms > 0 OR started)
GROUP BY 3, 4, 5, 6
"""

SUBHR = (QUEUE_SUBHR, AGENT_SUBHR, REASON_SUBHR)


def roll_up(family: str, grain: str) -> str:
    """Replaces the ``_hour`` or ``_day`` rows starting at ``starts`` (timestamptz[]) with the
    sums (maxima for ``max_*``) of their ``_subhr`` rows; ``map`` pairs each 15-minute key
    with its interval: ``keys``, ``starts_of``, ``lengths_of`` (and ``dates_of`` for days)."""
    figures, extra_keys = FAMILIES[family]
    keys = ", ".join(("resource_key", "media_type_key", *extra_keys))
    sums = ", ".join(f"{'max' if f.startswith('max_') else 'sum'}(s.{f})" for f in figures)
    day = grain == "day"
    return f"""
DELETE FROM ag2_{family}_{grain} WHERE interval_start_ts = ANY(%(starts)s);
INSERT INTO ag2_{family}_{grain} (interval_start_ts, interval_length_s,
    {"cal_date, " if day else ""}{keys}, {", ".join(figures)}, create_audit_key,
    update_audit_key)
SELECT m.start_ts, m.length_s, {"m.cal_date, " if day else ""}{keys}, {sums},
       %(audit)s, %(audit)s
FROM ag2_{family}_subhr s
JOIN unnest(%(keys)s::bigint[], %(starts_of)s::timestamptz[], %(lengths_of)s::integer[]
            {", %(dates_of)s::date[]" if day else ""})
     AS m(key, start_ts, length_s{", cal_date" if day else ""}) ON s.date_time_key = m.key
GROUP BY m.start_ts, m.length_s{", m.cal_date" if day else ""}, {keys}
"""

-- Contract v2 (aggregates.md): figures per queue, agent and not-ready reason for each
-- 15-minute UTC interval (_subhr), local hour (_hour) and local day (_day) of GIM_TIMEZONE,
-- kept current by the loader from the final fact rows (loaders/aggregate.py). Every figure is
-- an integer, never null: a row exists only where a fact contributes, with zeros elsewhere.
-- Audit keys name the recomputation that wrote a row (ctl_audit_log, source 'aggregate'), so
-- the export finds what changed.
--
-- And the per-DN thresholds GCA reads from cfg_dn_annex (section gim), null where the DN has
-- none (the tenant's GIM_SERVICE_LEVEL_THRESHOLD / GIM_SHORT_ABANDON_THRESHOLD apply).

ALTER TABLE resource_ ADD COLUMN service_level_threshold integer
    CHECK (service_level_threshold >= 0);
ALTER TABLE resource_ ADD COLUMN short_abandon_threshold integer
    CHECK (short_abandon_threshold >= 0);

-- The 15-minute tables hold every column; an hour or day table is its 15-minute table
-- without date_time_key (and the queue's thresholds, which differ between DNs and over
-- time), a day table adds its local date.

CREATE TABLE ag2_queue_subhr (
    interval_start_ts      timestamptz(3) NOT NULL,
    interval_length_s      integer NOT NULL,
    date_time_key          bigint NOT NULL,
    resource_key           bigint NOT NULL,
    media_type_key         bigint NOT NULL,
    service_level_threshold integer NOT NULL,
    short_abandon_threshold integer NOT NULL,
    entered                integer NOT NULL DEFAULT 0,
    accepted               integer NOT NULL DEFAULT 0,
    abandoned              integer NOT NULL DEFAULT 0,
    short_abandoned        integer NOT NULL DEFAULT 0,
    redirected             integer NOT NULL DEFAULT 0,
    accepted_within_sl     integer NOT NULL DEFAULT 0,
    abandoned_within_sl    integer NOT NULL DEFAULT 0,
    wait_duration          integer NOT NULL DEFAULT 0,
    accepted_wait_duration integer NOT NULL DEFAULT 0,
    abandoned_wait_duration integer NOT NULL DEFAULT 0,
    max_accepted_wait      integer NOT NULL DEFAULT 0,
    create_audit_key       bigint,
    update_audit_key       bigint,
    PRIMARY KEY (interval_start_ts, resource_key, media_type_key)
);
CREATE INDEX ag2_queue_subhr_resource_idx ON ag2_queue_subhr (resource_key, interval_start_ts);

CREATE TABLE ag2_queue_hour (LIKE ag2_queue_subhr INCLUDING ALL);
ALTER TABLE ag2_queue_hour DROP COLUMN date_time_key, DROP COLUMN service_level_threshold,
    DROP COLUMN short_abandon_threshold;
CREATE TABLE ag2_queue_day (LIKE ag2_queue_hour INCLUDING ALL);
ALTER TABLE ag2_queue_day ADD COLUMN cal_date date NOT NULL;

CREATE TABLE ag2_agent_subhr (
    interval_start_ts      timestamptz(3) NOT NULL,
    interval_length_s      integer NOT NULL,
    date_time_key          bigint NOT NULL,
    resource_key           bigint NOT NULL,
    media_type_key         bigint NOT NULL,
    offered                integer NOT NULL DEFAULT 0,
    accepted               integer NOT NULL DEFAULT 0,
    rona                   integer NOT NULL DEFAULT 0,
    transferred            integer NOT NULL DEFAULT 0,
    outbound_attempted     integer NOT NULL DEFAULT 0,
    outbound_connected     integer NOT NULL DEFAULT 0,
    internal               integer NOT NULL DEFAULT 0,
    ring_duration          integer NOT NULL DEFAULT 0,
    talk_duration          integer NOT NULL DEFAULT 0,
    hold_duration          integer NOT NULL DEFAULT 0,
    hold_count             integer NOT NULL DEFAULT 0,
    after_call_work_duration integer NOT NULL DEFAULT 0,
    handle_duration        integer NOT NULL DEFAULT 0,
    consult_initiated      integer NOT NULL DEFAULT 0,
    consult_received       integer NOT NULL DEFAULT 0,
    transfer_received      integer NOT NULL DEFAULT 0,
    conference_joined      integer NOT NULL DEFAULT 0,
    consult_talk_duration  integer NOT NULL DEFAULT 0,
    logged_in_duration     integer NOT NULL DEFAULT 0,
    ready_duration         integer NOT NULL DEFAULT 0,
    not_ready_duration     integer NOT NULL DEFAULT 0,
    after_call_work_state_duration integer NOT NULL DEFAULT 0,
    create_audit_key       bigint,
    update_audit_key       bigint,
    PRIMARY KEY (interval_start_ts, resource_key, media_type_key)
);
CREATE INDEX ag2_agent_subhr_resource_idx ON ag2_agent_subhr (resource_key, interval_start_ts);

CREATE TABLE ag2_agent_hour (LIKE ag2_agent_subhr INCLUDING ALL);
ALTER TABLE ag2_agent_hour DROP COLUMN date_time_key;
CREATE TABLE ag2_agent_day (LIKE ag2_agent_hour INCLUDING ALL);
ALTER TABLE ag2_agent_day ADD COLUMN cal_date date NOT NULL;

CREATE TABLE ag2_agent_reason_subhr (
    interval_start_ts      timestamptz(3) NOT NULL,
    interval_length_s      integer NOT NULL,
    date_time_key          bigint NOT NULL,
    resource_key           bigint NOT NULL,
    media_type_key         bigint NOT NULL,
    resource_state_reason_key bigint NOT NULL,
    not_ready_duration     integer NOT NULL DEFAULT 0,
    not_ready_count        integer NOT NULL DEFAULT 0,
    create_audit_key       bigint,
    update_audit_key       bigint,
    PRIMARY KEY (interval_start_ts, resource_key, media_type_key, resource_state_reason_key)
);
CREATE INDEX ag2_agent_reason_subhr_resource_idx ON ag2_agent_reason_subhr (resource_key, interval_start_ts);

CREATE TABLE ag2_agent_reason_hour (LIKE ag2_agent_reason_subhr INCLUDING ALL);
ALTER TABLE ag2_agent_reason_hour DROP COLUMN date_time_key;
CREATE TABLE ag2_agent_reason_day (LIKE ag2_agent_reason_hour INCLUDING ALL);
ALTER TABLE ag2_agent_reason_day ADD COLUMN cal_date date NOT NULL;

-- The 15-minute intervals whose aggregates wait to be recomputed: the loader adds the
-- intervals a batch's fact rows touch, in the batch's transaction; the aggregator takes them
-- (loaders/aggregate.py).
CREATE TABLE ctl_aggregate_pending (
    date_time_key  bigint PRIMARY KEY,
    added_ts       timestamptz(3) NOT NULL DEFAULT now()
);

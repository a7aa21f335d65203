-- 0001: the Info Mart of one tenant (contract v1, infomart.md).
--
-- Applied once, in one transaction, by gim_faust.loaders.migrate, which records it in
-- ctl_schema_version. The four static dimensions (media_type, interaction_type,
-- technical_descriptor, resource_state) are created empty here: the runner fills them from
-- gim_faust.transforms.codes after every run, so the codes have one source of truth.
-- docs/infomart.md describes every table and column; keep the two in step.
--
-- Facts are range-partitioned by day on start_ts. A fact's start_ts is fixed by the event that
-- opened the row and never changes between its versions, so (id, start_ts) identifies a row
-- exactly as well as id alone, and PostgreSQL can enforce it (a unique key of a partitioned
-- table must contain the partition column).
--
-- No foreign keys on facts: the Config Adapter and the loader write the Info Mart
-- independently, so a fact may briefly arrive before the resource_ row it names.

-- ----------------------------------------------------------------------------- bookkeeping

CREATE TABLE ctl_audit_log (
    audit_key   bigserial PRIMARY KEY,
    created_ts  timestamptz(3) NOT NULL DEFAULT now(),
    source      text NOT NULL,
    rows        integer,
    detail      jsonb
);

CREATE TABLE ctl_kafka_offset (
    consumer_group  text NOT NULL,
    topic           text NOT NULL,
    partition       integer NOT NULL,
    next_offset     bigint NOT NULL CHECK (next_offset >= 0),
    updated_ts      timestamptz(3) NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, partition)
);

-- ---------------------------------------------------------------------- static dimensions

CREATE TABLE media_type (
    media_type_key   bigint PRIMARY KEY,
    media_name_code  text NOT NULL UNIQUE
);

CREATE TABLE interaction_type (
    interaction_type_key   bigint PRIMARY KEY,
    interaction_type_code  text NOT NULL UNIQUE
);

CREATE TABLE technical_descriptor (
    technical_descriptor_key  bigint PRIMARY KEY,
    technical_result          text NOT NULL UNIQUE
);

CREATE TABLE resource_state (
    resource_state_key  bigint PRIMARY KEY,
    state_name          text NOT NULL UNIQUE
);

-- ---------------------------------------------------------------- configuration dimensions

CREATE TABLE resource_ (
    resource_key      bigint PRIMARY KEY,
    resource_type     text NOT NULL CHECK (resource_type IN (
                          'Agent', 'Extension', 'ACDQueue', 'RoutingPoint', 'VirtualQueue',
                          'InteractionQueue', 'UnknownAgentLogin', 'UnknownDN')),
    resource_name     text,
    employee_id       text,
    user_name         text,
    agent_first_name  text,
    agent_last_name   text,
    dn_number         text,
    switch_name       text,
    config_dbid       integer,
    tenant_dbid       integer,
    deleted_ts        timestamptz(3),
    version           bigint NOT NULL DEFAULT 0,
    create_audit_key  bigint,
    update_audit_key  bigint
);
CREATE INDEX resource__type_name_idx ON resource_ (resource_type, resource_name);
CREATE INDEX resource__employee_id_idx ON resource_ (employee_id) WHERE employee_id IS NOT NULL;
CREATE INDEX resource__dn_number_idx ON resource_ (dn_number) WHERE dn_number IS NOT NULL;
CREATE INDEX resource__update_audit_key_idx ON resource_ (update_audit_key);

CREATE TABLE resource_state_reason (
    resource_state_reason_key  bigint PRIMARY KEY,
    reason_code                text NOT NULL UNIQUE,
    reason_name                text,
    version                    bigint NOT NULL DEFAULT 0,
    create_audit_key           bigint,
    update_audit_key           bigint
);

CREATE TABLE group_ (
    group_key         bigint PRIMARY KEY,
    group_name        text NOT NULL,
    group_type        text NOT NULL CHECK (group_type IN ('Agent', 'DN')),
    tenant_dbid       integer,
    deleted_ts        timestamptz(3),
    create_audit_key  bigint,
    update_audit_key  bigint
);

CREATE TABLE skill (
    skill_key         bigint PRIMARY KEY,
    skill_name        text NOT NULL,
    tenant_dbid       integer,
    deleted_ts        timestamptz(3),
    create_audit_key  bigint,
    update_audit_key  bigint
);

CREATE TABLE resource_group_fact_ (
    resource_key      bigint NOT NULL,
    group_key         bigint NOT NULL,
    start_ts          timestamptz(3) NOT NULL,
    end_ts            timestamptz(3),
    create_audit_key  bigint,
    update_audit_key  bigint,
    PRIMARY KEY (resource_key, group_key, start_ts),
    CHECK (end_ts IS NULL OR end_ts >= start_ts)
);
-- At most one current membership per (resource, group): close the old row before opening one.
CREATE UNIQUE INDEX resource_group_fact__current_idx
    ON resource_group_fact_ (resource_key, group_key) WHERE end_ts IS NULL;
CREATE INDEX resource_group_fact__group_idx ON resource_group_fact_ (group_key, start_ts);

CREATE TABLE resource_skill_fact_ (
    resource_key      bigint NOT NULL,
    skill_key         bigint NOT NULL,
    skill_level       integer NOT NULL,
    start_ts          timestamptz(3) NOT NULL,
    end_ts            timestamptz(3),
    create_audit_key  bigint,
    update_audit_key  bigint,
    PRIMARY KEY (resource_key, skill_key, start_ts),
    CHECK (end_ts IS NULL OR end_ts >= start_ts)
);
CREATE UNIQUE INDEX resource_skill_fact__current_idx
    ON resource_skill_fact_ (resource_key, skill_key) WHERE end_ts IS NULL;
CREATE INDEX resource_skill_fact__skill_idx ON resource_skill_fact_ (skill_key, start_ts);

-- ------------------------------------------------------------------------------ date_time

CREATE TABLE date_time (
    date_time_key      integer PRIMARY KEY CHECK (date_time_key % 900 = 0),
    interval_start_ts  timestamptz(3) NOT NULL UNIQUE,
    interval_end_ts    timestamptz(3) NOT NULL,
    cal_date           date NOT NULL,
    hour_of_day        integer NOT NULL CHECK (hour_of_day BETWEEN 0 AND 23),
    minute_of_hour     integer NOT NULL CHECK (minute_of_hour IN (0, 15, 30, 45)),
    day_of_week        integer NOT NULL CHECK (day_of_week BETWEEN 1 AND 7)
);
CREATE INDEX date_time_cal_date_idx ON date_time (cal_date);

-- The rows of the given 15-minute interval keys (Unix seconds of their UTC start).
CREATE FUNCTION gim_date_time_rows(p_keys bigint[])
RETURNS SETOF date_time
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT k::integer,
           to_timestamp(k),
           to_timestamp(k + 900),
           (to_timestamp(k) AT TIME ZONE 'UTC')::date,
           extract(hour FROM to_timestamp(k) AT TIME ZONE 'UTC')::integer,
           extract(minute FROM to_timestamp(k) AT TIME ZONE 'UTC')::integer,
           extract(isodow FROM to_timestamp(k) AT TIME ZONE 'UTC')::integer
    FROM unnest(p_keys) AS k
$$;

-- Adds every 15-minute interval that holds an instant of [p_from, p_to] (both ends included)
-- and is not there yet; returns how many rows it added.
CREATE FUNCTION gim_ensure_date_time(p_from timestamptz, p_to timestamptz)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    first_key bigint := floor(extract(epoch FROM p_from) / 900)::bigint * 900;
    last_key  bigint := floor(extract(epoch FROM p_to) / 900)::bigint * 900;
    added     integer;
BEGIN
    IF p_from IS NULL OR p_to IS NULL OR p_to < p_from THEN
        RETURN 0;
    END IF;
    INSERT INTO date_time
    SELECT * FROM gim_date_time_rows(ARRAY(SELECT generate_series(first_key, last_key, 900)))
    ON CONFLICT (date_time_key) DO NOTHING;
    GET DIAGNOSTICS added = ROW_COUNT;
    RETURN added;
END
$$;

-- The same for an exact set of keys (what the loader has in hand: the facts'
-- *_date_time_key values); keys that are not interval starts are an error.
CREATE FUNCTION gim_ensure_date_time(p_keys integer[])
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    added integer;
BEGIN
    INSERT INTO date_time
    SELECT * FROM gim_date_time_rows(ARRAY(SELECT DISTINCT k::bigint FROM unnest(p_keys) AS k
                                           WHERE k IS NOT NULL))
    ON CONFLICT (date_time_key) DO NOTHING;
    GET DIAGNOSTICS added = ROW_COUNT;
    RETURN added;
END
$$;

-- ----------------------------------------------------------------------------------- facts

CREATE TABLE interaction_fact (
    interaction_id        text NOT NULL,
    media_type_key        bigint NOT NULL,
    interaction_type_key  bigint,
    start_ts              timestamptz(3) NOT NULL,
    end_ts                timestamptz(3),
    start_date_time_key   integer NOT NULL,
    source_address        text,
    target_address        text,
    status                text NOT NULL CHECK (status IN ('ACTIVE', 'COMPLETED', 'TIMED_OUT')),
    active_flag           integer NOT NULL CHECK (active_flag IN (0, 1)),
    version               bigint NOT NULL,
    create_audit_key      bigint,
    update_audit_key      bigint,
    PRIMARY KEY (interaction_id, start_ts)
) PARTITION BY RANGE (start_ts);
CREATE TABLE interaction_fact_default PARTITION OF interaction_fact DEFAULT;
CREATE INDEX interaction_fact_end_ts_idx ON interaction_fact (end_ts);
CREATE INDEX interaction_fact_update_audit_key_idx ON interaction_fact (update_audit_key);

CREATE TABLE mediation_segment_fact (
    mediation_segment_id      text NOT NULL,
    interaction_id            text NOT NULL,
    resource_key              bigint NOT NULL,
    media_type_key            bigint NOT NULL,
    technical_descriptor_key  bigint,
    start_ts                  timestamptz(3) NOT NULL,
    end_ts                    timestamptz(3),
    start_date_time_key       integer NOT NULL,
    mediation_duration        integer CHECK (mediation_duration >= 0),
    target_resource_key       bigint,
    accepted_flag             integer NOT NULL CHECK (accepted_flag IN (0, 1)),
    active_flag               integer NOT NULL CHECK (active_flag IN (0, 1)),
    version                   bigint NOT NULL,
    create_audit_key          bigint,
    update_audit_key          bigint,
    PRIMARY KEY (mediation_segment_id, start_ts)
) PARTITION BY RANGE (start_ts);
CREATE TABLE mediation_segment_fact_default PARTITION OF mediation_segment_fact DEFAULT;
CREATE INDEX mediation_segment_fact_resource_idx ON mediation_segment_fact (resource_key, start_ts);
CREATE INDEX mediation_segment_fact_interaction_idx ON mediation_segment_fact (interaction_id);
CREATE INDEX mediation_segment_fact_end_ts_idx ON mediation_segment_fact (end_ts);
CREATE INDEX mediation_segment_fact_update_audit_key_idx
    ON mediation_segment_fact (update_audit_key);

CREATE TABLE interaction_resource_fact (
    interaction_resource_id   text NOT NULL,
    interaction_id            text NOT NULL,
    resource_key              bigint NOT NULL,
    media_type_key            bigint NOT NULL,
    interaction_type_key      bigint,
    technical_descriptor_key  bigint,
    start_ts                  timestamptz(3) NOT NULL,
    end_ts                    timestamptz(3),
    start_date_time_key       integer NOT NULL,
    ring_duration             integer NOT NULL CHECK (ring_duration >= 0),
    talk_duration             integer NOT NULL CHECK (talk_duration >= 0),
    hold_duration             integer NOT NULL CHECK (hold_duration >= 0),
    hold_count                integer NOT NULL CHECK (hold_count >= 0),
    after_call_work_duration  integer NOT NULL CHECK (after_call_work_duration >= 0),
    customer_handle_count     integer NOT NULL CHECK (customer_handle_count IN (0, 1)),
    mediation_resource_key    bigint,
    mediation_duration        integer CHECK (mediation_duration >= 0),
    active_flag               integer NOT NULL CHECK (active_flag IN (0, 1)),
    version                   bigint NOT NULL,
    create_audit_key          bigint,
    update_audit_key          bigint,
    PRIMARY KEY (interaction_resource_id, start_ts)
) PARTITION BY RANGE (start_ts);
CREATE TABLE interaction_resource_fact_default PARTITION OF interaction_resource_fact DEFAULT;
CREATE INDEX interaction_resource_fact_resource_idx
    ON interaction_resource_fact (resource_key, start_ts);
CREATE INDEX interaction_resource_fact_interaction_idx
    ON interaction_resource_fact (interaction_id);
CREATE INDEX interaction_resource_fact_end_ts_idx ON interaction_resource_fact (end_ts);
CREATE INDEX interaction_resource_fact_update_audit_key_idx
    ON interaction_resource_fact (update_audit_key);

CREATE TABLE sm_res_session_fact (
    sm_res_session_id    text NOT NULL,
    resource_key         bigint NOT NULL,
    media_type_key       bigint NOT NULL,
    start_ts             timestamptz(3) NOT NULL,
    end_ts               timestamptz(3),
    total_duration       integer CHECK (total_duration >= 0),
    start_date_time_key  integer NOT NULL,
    active_flag          integer NOT NULL CHECK (active_flag IN (0, 1)),
    version              bigint NOT NULL,
    create_audit_key     bigint,
    update_audit_key     bigint,
    PRIMARY KEY (sm_res_session_id, start_ts)
) PARTITION BY RANGE (start_ts);
CREATE TABLE sm_res_session_fact_default PARTITION OF sm_res_session_fact DEFAULT;
CREATE INDEX sm_res_session_fact_resource_idx ON sm_res_session_fact (resource_key, start_ts);
CREATE INDEX sm_res_session_fact_end_ts_idx ON sm_res_session_fact (end_ts);
CREATE INDEX sm_res_session_fact_update_audit_key_idx ON sm_res_session_fact (update_audit_key);

CREATE TABLE sm_res_state_fact (
    sm_res_state_id            text NOT NULL,
    resource_key               bigint NOT NULL,
    media_type_key             bigint NOT NULL,
    resource_state_key         bigint NOT NULL,
    resource_state_reason_key  bigint,
    start_ts                   timestamptz(3) NOT NULL,
    end_ts                     timestamptz(3),
    total_duration             integer CHECK (total_duration >= 0),
    start_date_time_key        integer NOT NULL,
    active_flag                integer NOT NULL CHECK (active_flag IN (0, 1)),
    version                    bigint NOT NULL,
    create_audit_key           bigint,
    update_audit_key           bigint,
    PRIMARY KEY (sm_res_state_id, start_ts)
) PARTITION BY RANGE (start_ts);
CREATE TABLE sm_res_state_fact_default PARTITION OF sm_res_state_fact DEFAULT;
CREATE INDEX sm_res_state_fact_resource_idx ON sm_res_state_fact (resource_key, start_ts);
CREATE INDEX sm_res_state_fact_end_ts_idx ON sm_res_state_fact (end_ts);
CREATE INDEX sm_res_state_fact_update_audit_key_idx ON sm_res_state_fact (update_audit_key);

-- ------------------------------------------------------------------------------ partitions

-- Creates the partition of one UTC day of a fact table unless it exists; true when it made it.
--
-- The partition is built beside the table and then attached, because ATTACH PARTITION needs
-- only a SHARE UPDATE EXCLUSIVE lock on the parent (CREATE TABLE ... PARTITION OF needs ACCESS
-- EXCLUSIVE, which would stall every report and the loader). Rows of that day that already
-- sit in the DEFAULT partition (late or early data) move into the new partition first:
-- PostgreSQL refuses the new bound while the default still holds such rows. The default is
-- locked for the move, so no row of the day can slip in between the move and the attach.
-- Locks are held until the caller commits: a maintenance job that runs beside the loader
-- should call this once per table and day, each in its own short transaction.
CREATE FUNCTION gim_ensure_partition(p_table regclass, p_day date)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    schema_name  name;
    table_name   name;
    part_name    text;
    default_part regclass;
    columns      text;
    lo           timestamptz := p_day::timestamp AT TIME ZONE 'UTC';
    hi           timestamptz := (p_day + 1)::timestamp AT TIME ZONE 'UTC';
BEGIN
    SELECT n.nspname, c.relname INTO schema_name, table_name
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = p_table;
    IF NOT EXISTS (SELECT 1 FROM pg_partitioned_table
                   WHERE partrelid = p_table AND pg_get_partkeydef(partrelid) = 'RANGE (start_ts)')
    THEN
        RAISE EXCEPTION '% is not partitioned by range on start_ts', p_table;
    END IF;
    part_name := table_name || '_p' || to_char(p_day, 'YYYYMMDD');

    -- Serializes concurrent callers (the lock conflicts with itself) while inserts and reads
    -- on the parent go on; the existence check must come after it.
    EXECUTE format('LOCK TABLE %s IN SHARE UPDATE EXCLUSIVE MODE', p_table);
    IF to_regclass(format('%I.%I', schema_name, part_name)) IS NOT NULL THEN
        RETURN false;
    END IF;

    EXECUTE format('CREATE TABLE %I.%I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS '
                   'INCLUDING STORAGE INCLUDING COMMENTS)', schema_name, part_name, p_table);
    -- Proves the bound to ATTACH, which then skips scanning the new table; dropped after.
    EXECUTE format('ALTER TABLE %I.%I ADD CONSTRAINT gim_bound CHECK '
                   '(start_ts >= %L AND start_ts < %L)', schema_name, part_name, lo, hi);

    SELECT i.inhrelid::regclass INTO default_part
    FROM pg_inherits i JOIN pg_class k ON k.oid = i.inhrelid
    WHERE i.inhparent = p_table AND pg_get_expr(k.relpartbound, k.oid) = 'DEFAULT';
    IF default_part IS NOT NULL THEN
        EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', default_part);
        SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO columns
        FROM pg_attribute
        WHERE attrelid = p_table AND attnum > 0 AND NOT attisdropped;
        EXECUTE format('WITH moved AS (DELETE FROM %s WHERE start_ts >= %L AND start_ts < %L '
                       'RETURNING %s) INSERT INTO %I.%I (%s) SELECT %s FROM moved',
                       default_part, lo, hi, columns, schema_name, part_name, columns, columns);
    END IF;

    EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I.%I FOR VALUES FROM (%L) TO (%L)',
                   p_table, schema_name, part_name, lo, hi);
    EXECUTE format('ALTER TABLE %I.%I DROP CONSTRAINT gim_bound', schema_name, part_name);
    RETURN true;
END
$$;

-- Daily partitions for [from_day, from_day + days) on every fact table of this schema (every
-- table range-partitioned on start_ts); returns how many it created.
CREATE FUNCTION gim_ensure_partitions(from_day date, days integer)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    parent  regclass;
    day     date;
    created integer := 0;
BEGIN
    FOR parent IN
        SELECT p.partrelid::regclass FROM pg_partitioned_table p
        JOIN pg_class c ON c.oid = p.partrelid
        WHERE c.relnamespace = current_schema()::regnamespace
          AND pg_get_partkeydef(p.partrelid) = 'RANGE (start_ts)'
        ORDER BY c.relname
    LOOP
        FOR day IN SELECT from_day + i FROM generate_series(0, days - 1) AS i LOOP
            IF gim_ensure_partition(parent, day) THEN
                created := created + 1;
            END IF;
        END LOOP;
    END LOOP;
    RETURN created;
END
$$;

-- A week back (late data of a fresh install) and two weeks ahead; `gim maintenance` extends.
SELECT gim_ensure_partitions((now() AT TIME ZONE 'UTC')::date - 7, 22);

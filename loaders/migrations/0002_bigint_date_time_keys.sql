-- Contract v2 (infomart.md, Conventions): *_date_time_key is a bigint. As an integer it ended
-- on 2038-01-19, and the loader set aside every fact row after it. Rewrites each fact table
-- and date_time once (every partition with its parent); run it in a maintenance window on a
-- large Info Mart.

ALTER TABLE date_time ALTER COLUMN date_time_key TYPE bigint;
ALTER TABLE interaction_fact ALTER COLUMN start_date_time_key TYPE bigint;
ALTER TABLE mediation_segment_fact ALTER COLUMN start_date_time_key TYPE bigint;
ALTER TABLE interaction_resource_fact ALTER COLUMN start_date_time_key TYPE bigint;
ALTER TABLE sm_res_session_fact ALTER COLUMN start_date_time_key TYPE bigint;
ALTER TABLE sm_res_state_fact ALTER COLUMN start_date_time_key TYPE bigint;

-- The rows of the given 15-minute interval keys, now bigint like the column.
CREATE OR REPLACE FUNCTION gim_date_time_rows(p_keys bigint[])
RETURNS SETOF date_time
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT k,
           to_timestamp(k),
           to_timestamp(k + 900),
           (to_timestamp(k) AT TIME ZONE 'UTC')::date,
           extract(hour FROM to_timestamp(k) AT TIME ZONE 'UTC')::integer,
           extract(minute FROM to_timestamp(k) AT TIME ZONE 'UTC')::integer,
           extract(isodow FROM to_timestamp(k) AT TIME ZONE 'UTC')::integer
    FROM unnest(p_keys) AS k
$$;

-- The keys' variant takes bigint keys too (an integer[] argument still resolves to it).
DROP FUNCTION gim_ensure_date_time(integer[]);
CREATE FUNCTION gim_ensure_date_time(p_keys bigint[])
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    added integer;
BEGIN
    INSERT INTO date_time
    SELECT * FROM gim_date_time_rows(ARRAY(SELECT DISTINCT k FROM unnest(p_keys) AS k
                                           WHERE k IS NOT NULL))
    ON CONFLICT (date_time_key) DO NOTHING;
    GET DIAGNOSTICS added = ROW_COUNT;
    RETURN added;
END
$$;

-- Contract v2 (user-data.md): the interaction's user data as it stood when each party ended,
-- one row per interaction_resource_fact row that ended holding at least one kept key. The
-- Config Adapter adds one column per kept key (gca/user_data_columns.py); the columns here are
-- the row's identity and bookkeeping, mirrored from its party's row: partitioned by day on
-- start_ts like the facts, so partitions, retention and export treat it as one of them.

CREATE TABLE irf_user_data (
    interaction_resource_id  text NOT NULL,
    interaction_id           text NOT NULL,
    start_date_time_key      bigint NOT NULL,
    start_ts                 timestamptz(3) NOT NULL,
    end_ts                   timestamptz(3) NOT NULL,
    active_flag              integer NOT NULL CHECK (active_flag IN (0, 1)),
    version                  bigint NOT NULL,
    create_audit_key         bigint,
    update_audit_key         bigint,
    PRIMARY KEY (interaction_resource_id, start_ts)
) PARTITION BY RANGE (start_ts);
CREATE TABLE irf_user_data_default PARTITION OF irf_user_data DEFAULT;
CREATE INDEX irf_user_data_interaction_idx ON irf_user_data (interaction_id);
CREATE INDEX irf_user_data_end_ts_idx ON irf_user_data (end_ts);
CREATE INDEX irf_user_data_update_audit_key_idx ON irf_user_data (update_audit_key);

SELECT gim_ensure_partitions((now() AT TIME ZONE 'UTC')::date - 7, 22);

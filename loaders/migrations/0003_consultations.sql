-- Contract v2 (consultations.md): the main interaction of a consultation, and the role each
-- resource party had in it. Both null on rows loaded before (nullable columns are added
-- without rewriting a table; every partition takes them from its parent).

ALTER TABLE interaction_fact ADD COLUMN consult_of_interaction_id text;
ALTER TABLE interaction_resource_fact ADD COLUMN resource_role text;

-- Reports of an agent's consultations read the main interaction's rows by this column.
CREATE INDEX interaction_fact_consult_of_idx ON interaction_fact (consult_of_interaction_id)
    WHERE consult_of_interaction_id IS NOT NULL;

-- ml.program_capacity (SELECT only): the k that evaluation cuts ranked lists at.
-- Grain: one row (the whole programme) on $as_of.
-- Logic: sum over active case managers (raw.cm_roster.active_flag = 1) of capacity minus the
-- cases assigned to them that are open on $as_of (open_date <= $as_of, close_date null or after
-- $as_of), each manager floored at 0. One case = one slot (no acuity weighting).
SELECT CAST(coalesce(sum(greatest(r.capacity - coalesce(c.open_cases, 0), 0)), 0) AS BIGINT) AS free_slots
FROM raw.cm_roster AS r
LEFT JOIN (
    SELECT case_manager_id, count(*) AS open_cases
    FROM raw.cm_case
    WHERE open_date IS NOT NULL AND open_date <= $as_of AND (close_date IS NULL OR close_date > $as_of)
    GROUP BY case_manager_id
) AS c ON c.case_manager_id = r.case_manager_id
WHERE r.active_flag = 1

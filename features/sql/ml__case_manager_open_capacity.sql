-- ml.case_manager_open_capacity (SELECT only, read by models.intake.build_intake_list)
-- Grain: one row per active case manager (raw.cm_roster.active_flag = 1).
-- Logic: active_cases = cases assigned to the manager that are open on $as_of (open_date not
-- null and <= $as_of, close_date null or after $as_of); free_slots = greatest(capacity -
-- active_cases, 0). Acuity weighting is not applied: one case = one slot.
SELECT
    r.case_manager_id,
    r.team,
    r.program,
    r.capacity,
    CAST(count(c.case_id) AS BIGINT) AS active_cases,
    CAST(greatest(r.capacity - count(c.case_id), 0) AS BIGINT) AS free_slots
FROM raw.cm_roster AS r
LEFT JOIN raw.cm_case AS c
    ON c.case_manager_id = r.case_manager_id
   AND c.open_date IS NOT NULL
   AND c.open_date <= $as_of
   AND (c.close_date IS NULL OR c.close_date > $as_of)
WHERE r.active_flag = 1
GROUP BY r.case_manager_id, r.team, r.program, r.capacity
ORDER BY r.case_manager_id

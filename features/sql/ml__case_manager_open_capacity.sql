-- ml.case_manager_open_capacity (SELECT only, read by models.intake.build_intake_list)
-- Grain: one row per active case manager (raw.cm_roster.active_flag = 1).
-- Logic: active_cases = cases assigned to the manager that are open on $as_of (open_date not
-- null and <= $as_of, close_date null or after $as_of); caseload = active_cases, or the sum of
-- their acuity_level (a missing acuity counts 1) when $acuity_weighted; effective_capacity =
-- the roster capacity, capped by the program's caseload cap when one is given in the
-- _program_cap temp table (program, cap); free_slots = greatest(effective_capacity - caseload, 0).
SELECT
    r.case_manager_id,
    r.team,
    r.program,
    r.region,
    r.capacity,
    CAST(least(r.capacity, coalesce(max(p.cap), r.capacity)) AS BIGINT) AS effective_capacity,
    CAST(count(c.case_id) AS BIGINT) AS active_cases,
    CAST(CASE WHEN $acuity_weighted THEN coalesce(sum(CASE WHEN c.case_id IS NOT NULL THEN coalesce(c.acuity_level, 1) END), 0) ELSE count(c.case_id) END
         AS BIGINT) AS caseload,
    CAST(greatest(least(r.capacity, coalesce(max(p.cap), r.capacity))
         - CASE WHEN $acuity_weighted THEN coalesce(sum(CASE WHEN c.case_id IS NOT NULL THEN coalesce(c.acuity_level, 1) END), 0) ELSE count(c.case_id) END,
         0) AS BIGINT) AS free_slots
FROM raw.cm_roster AS r
LEFT JOIN raw.cm_case AS c
    ON c.case_manager_id = r.case_manager_id
   AND c.open_date IS NOT NULL
   AND c.open_date <= $as_of
   AND (c.close_date IS NULL OR c.close_date > $as_of)
LEFT JOIN _program_cap AS p ON p.program = r.program
WHERE r.active_flag = 1
GROUP BY r.case_manager_id, r.team, r.program, r.region, r.capacity
ORDER BY r.case_manager_id

-- marts.kpi_contact_compliance_monthly
-- memory: grows with case-management contacts (1.5M at 1M members): one join with the cases as
--   the build side, one GROUP BY GROUPING SETS over few groups.
-- Grain: one row per scheduled_month x level (all / program / team / case_manager).
-- Follow-up compliance: denominator scheduled contacts (raw.cm_contact rows with a scheduled_date
--   before $as_of); numerator those made on time (contact_date <= scheduled_date) whatever the
--   outcome. Exclusions: unplanned attempts (no scheduled_date). Attributed to the contact's case.
CREATE OR REPLACE TABLE marts.kpi_contact_compliance_monthly AS
WITH contacts AS (
    SELECT t.*, c.program, c.case_manager_id, r.team
    FROM raw.cm_contact AS t
    JOIN raw.cm_case AS c ON c.case_id = t.case_id
    LEFT JOIN raw.cm_roster AS r ON r.case_manager_id = c.case_manager_id
    WHERE t.scheduled_date IS NOT NULL AND t.scheduled_date < $as_of
)
SELECT
    CAST(date_trunc('month', scheduled_date) AS DATE) AS scheduled_month,
    rollup_level(grouping(program), grouping(team), grouping(case_manager_id)) AS level,
    program, team, case_manager_id,
    CAST(count(*) AS BIGINT) AS scheduled_contacts,
    CAST(count(*) FILTER (WHERE contact_date <= scheduled_date) AS BIGINT) AS on_time_contacts,
    CAST(count(*) FILTER (WHERE contact_date <= scheduled_date) AS DOUBLE) / count(*) AS followup_compliance_rate,
    CAST($as_of AS DATE) AS as_of_date
FROM contacts
GROUP BY GROUPING SETS (
    (scheduled_month),
    (scheduled_month, program),
    (scheduled_month, program, team),
    (scheduled_month, program, team, case_manager_id)
)
ORDER BY scheduled_month, level, program NULLS FIRST, team NULLS FIRST, case_manager_id NULLS FIRST

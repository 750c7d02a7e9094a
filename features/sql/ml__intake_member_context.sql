-- ml.intake_member_context (SELECT only, read by models.intake.build_intake_list)
-- Grain: one row per person_id with an eligibility span covering $as_of.
-- latest_discharge_date: the latest discharge of an acute stay (core.inpatient_stay) before $as_of.
-- gap_no_followup_7d: 1 when that discharge's 7-day window has closed (discharge_date + 7 < $as_of)
--   without an office, telehealth or home-health encounter in (discharge_date, discharge_date + 7].
-- gap_no_pcp_12m: 1 when no encounter with pcp_visit_flag = 1 started in [$as_of - 365, $as_of).
WITH members AS (
    SELECT DISTINCT person_id FROM raw.eligibility
    WHERE enrollment_start_date <= $as_of AND enrollment_end_date >= $as_of
),
latest AS (
    SELECT person_id, max(discharge_date) AS latest_discharge_date
    FROM core.inpatient_stay WHERE discharge_date < $as_of GROUP BY person_id
)
SELECT
    m.person_id,
    l.latest_discharge_date,
    CAST(l.latest_discharge_date IS NOT NULL AND l.latest_discharge_date + 7 < $as_of AND NOT EXISTS (
        SELECT 1 FROM raw.encounter AS v
        WHERE v.person_id = m.person_id
          AND v.encounter_type IN ('office', 'telehealth', 'home_health')
          AND v.encounter_start_date > l.latest_discharge_date
          AND v.encounter_start_date <= l.latest_discharge_date + 7
    ) AS INTEGER) AS gap_no_followup_7d,
    CAST(NOT EXISTS (
        SELECT 1 FROM raw.encounter AS v
        WHERE v.person_id = m.person_id AND v.pcp_visit_flag = 1
          AND v.encounter_start_date >= CAST($as_of AS DATE) - 365 AND v.encounter_start_date < $as_of
    ) AS INTEGER) AS gap_no_pcp_12m
FROM members AS m
LEFT JOIN latest AS l ON l.person_id = m.person_id

-- marts.kpi_transition_monthly
-- memory: grows with index stays (about 300k at 1M members): stays are the build side of each
--   join (cases, enrolment spans, follow-up encounters), one GROUP BY GROUPING SETS over few groups.
-- Grain: one row per discharge_month x cohort x level (all / program / team / case_manager) with
-- program, team and case_manager_id filled down to that level. The not-in-case-management cohort
-- has level 'all' only.
-- Cohort (index stays from _readmission_label, the cohort and label of features.readmission_stay):
--   in_case_management      a case open at discharge (open_date <= discharge_date < close_date or
--                           no close); attributed to that case's program, team and case manager
--                           (the most recently opened case when there are several)
--   comparable_not_in_cm    not in case management at discharge, and not opted out of outreach on the
--                           enrolment span covering the discharge (so they could have been offered it)
-- Follow-up within 7 days:
--   denominator  index stays whose 7-day window has closed (discharge_date + 7 < $as_of)
--   numerator    those with an office, telehealth or home-health encounter starting in
--                (discharge_date, discharge_date + 7]
-- 30-day readmission (observed): denominator observable index stays (discharge_date + 30 < $as_of),
--   numerator those with an unplanned acute admission 1-30 days after discharge (readmit_30d of
--   features__readmission_label.sql: not planned by the CMS Planned Readmission Algorithm).
-- Expected: the current readmission model's calibrated probability per stay, computed as if the
--   member were not in case management (models.intake.expected_readmission_risk; _readmission_expected,
--   stay_id + expected_p; stays without a probability are left out of expected and O/E);
--   oe_ratio = observed readmissions among scored stays / sum of their expected_p.
-- Exclusions: every exclusion_reason of the label (died, AMA, transfer out, not enrolled for 30 days).
-- month_complete_flag: 1 when the discharge month and the month after it are complete in claims and
--   eligibility (features.coverage, temp table _month_complete); 0 while claims still run out.
CREATE OR REPLACE TABLE marts.kpi_transition_monthly AS
WITH stays AS (
    SELECT l.*
    FROM _readmission_label AS l
    WHERE l.exclusion_reason IS NULL
),
attributed AS (
    -- the latest-opened case open at discharge, one case (ties on the open date broken by case_id), so
    -- the program, team and case manager all come from it (kpi_utilization_monthly does the same)
    SELECT stay_id, program, team, case_manager_id
    FROM (
        SELECT
            s.stay_id, c.program, r.team, c.case_manager_id,
            row_number() OVER (PARTITION BY s.stay_id ORDER BY c.open_date DESC, c.case_id DESC) AS latest
        FROM stays AS s
        JOIN raw.cm_case AS c
            ON c.person_id = s.person_id
           AND case_open_on(c.open_date, c.close_date, s.discharge_date)
        LEFT JOIN raw.cm_roster AS r ON r.case_manager_id = c.case_manager_id
    ) AS ranked
    WHERE latest = 1
),
opted_out AS (
    SELECT DISTINCT s.stay_id
    FROM stays AS s
    JOIN raw.eligibility AS e
        ON e.person_id = s.person_id
       AND e.enrollment_start_date <= s.discharge_date
       AND e.enrollment_end_date >= s.discharge_date
       AND coalesce(e.outreach_opt_out_flag, 0) = 1
),
followup AS (
    SELECT DISTINCT s.stay_id
    FROM stays AS s
    JOIN raw.encounter AS v
        ON v.person_id = s.person_id
       AND v.encounter_type IN ('office', 'telehealth', 'home_health')
       AND v.encounter_start_date > s.discharge_date
       AND v.encounter_start_date <= s.discharge_date + 7
),
cohort AS (
    SELECT
        s.stay_id,
        CAST(date_trunc('month', s.discharge_date) AS DATE) AS discharge_month,
        CASE WHEN a.stay_id IS NOT NULL THEN 'in_case_management' ELSE 'comparable_not_in_cm' END AS cohort,
        a.program, a.team, a.case_manager_id,
        CAST(s.discharge_date + 7 < $as_of AS INTEGER) AS followup_observable,
        CAST(f.stay_id IS NOT NULL AS INTEGER) AS followup_7d,
        s.readmit_30d,
        x.expected_p
    FROM stays AS s
    LEFT JOIN attributed AS a ON a.stay_id = s.stay_id
    LEFT JOIN opted_out AS o ON o.stay_id = s.stay_id
    LEFT JOIN followup AS f ON f.stay_id = s.stay_id
    LEFT JOIN _readmission_expected AS x ON x.stay_id = s.stay_id
    WHERE a.stay_id IS NOT NULL OR o.stay_id IS NULL
),
agg AS (
    SELECT
        discharge_month,
        cohort,
        rollup_level(grouping(program), grouping(team), grouping(case_manager_id)) AS level,
        program, team, case_manager_id,
        CAST(count(*) AS BIGINT) AS index_stays,
        CAST(sum(followup_observable) AS BIGINT) AS followup_eligible_stays,
        CAST(sum(followup_7d * followup_observable) AS BIGINT) AS followup_7d_stays,
        CAST(count(readmit_30d) AS BIGINT) AS observable_index_stays,
        CAST(coalesce(sum(readmit_30d), 0) AS BIGINT) AS readmissions,
        CAST(count(*) FILTER (WHERE readmit_30d IS NOT NULL AND expected_p IS NOT NULL) AS BIGINT) AS scored_stays,
        CAST(coalesce(sum(readmit_30d) FILTER (WHERE expected_p IS NOT NULL), 0) AS BIGINT) AS observed_readmissions_scored,
        sum(expected_p) FILTER (WHERE readmit_30d IS NOT NULL) AS expected_readmissions
    FROM cohort
    GROUP BY GROUPING SETS (
        (discharge_month, cohort),
        (discharge_month, cohort, program),
        (discharge_month, cohort, program, team),
        (discharge_month, cohort, program, team, case_manager_id)
    )
)
SELECT
    discharge_month, cohort, level, program, team, case_manager_id,
    index_stays,
    followup_eligible_stays,
    followup_7d_stays,
    CAST(followup_7d_stays AS DOUBLE) / nullif(followup_eligible_stays, 0) AS followup_7d_rate,
    observable_index_stays,
    readmissions,
    CAST(readmissions AS DOUBLE) / nullif(observable_index_stays, 0) AS readmission_rate,
    scored_stays,
    observed_readmissions_scored,
    expected_readmissions,
    CAST(observed_readmissions_scored AS DOUBLE) / nullif(expected_readmissions, 0) AS oe_ratio,
    CAST(coalesce((SELECT count(*) = 2 AND bool_and(c.month_complete_flag = 1) FROM _month_complete AS c
        WHERE c.month IN (agg.discharge_month, CAST(agg.discharge_month + INTERVAL 1 MONTH AS DATE))), false) AS INTEGER) AS month_complete_flag,
    CAST($as_of AS DATE) AS as_of_date
FROM agg
WHERE cohort = 'in_case_management' OR level = 'all'
ORDER BY discharge_month, cohort, level, program NULLS FIRST, team NULLS FIRST, case_manager_id NULLS FIRST

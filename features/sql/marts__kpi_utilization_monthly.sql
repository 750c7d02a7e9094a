-- marts.kpi_utilization_monthly (SELECT only: features.kpi.build_kpi_utilization_monthly runs it
-- once per month, $first_month to $end_month exclusive, and appends each month in order)
-- memory: processing by month. One statement per month holds that month's member-months (1M at 1M
-- members) instead of all 24 months at once: the single statement joined three per-member-month
-- aggregates onto 24M member-months and failed under the 6 GB cap ("could not allocate block",
-- 5.5 GiB/5.5 GiB), at 5-6 GB while passing at 2-4 GB and at 8 GB (hash tables sized for memory
-- at once); the claims of other months are skipped by the date filters (row-group min/max).
-- Grain: one row per month x cohort x level. Months from the KPI start month to the last full month
-- before $as_of. A member-month is a member enrolled on the 15th of the month (eligibility span covering
-- it, alive). cohort 'in_case_management' when a case was open on the 15th (attributed to the most
-- recently opened such case's program, team and case manager), else 'not_in_case_management'
-- (level 'all' only).
-- ED visits per 1,000 member-months: raw.encounter rows of type 'emergency' starting in the month,
--   of members counted in that month, x 1000 / member_months.
-- Admissions per 1,000 member-months: core.inpatient_stay admissions in the month, same rule.
-- PMPM cost: paid_amount of raw.medical_claim (claim_start_date in the month) plus raw.pharmacy_claim
--   (dispensing_date in the month) / member_months.
-- month_complete_flag: 1 when the month is complete in claims and eligibility (features.coverage,
--   temp table _month_complete); 0 while its claims still run out, so a drop there is not real.
WITH months AS (
    SELECT CAST(m AS DATE) AS month, CAST(m AS DATE) + 14 AS mid
    FROM generate_series(CAST($first_month AS DATE), CAST($end_month AS DATE) - INTERVAL 1 MONTH, INTERVAL 1 MONTH) AS t(m)
),
member_months AS (
    SELECT DISTINCT m.month, e.person_id
    FROM months AS m
    JOIN raw.eligibility AS e
        ON e.enrollment_start_date <= m.mid AND e.enrollment_end_date >= m.mid
       AND (e.death_date IS NULL OR e.death_date > m.mid)
),
in_cm AS (
    -- the member's latest-opened open case, one case (ties on the open date broken by case_id), so the
    -- program, team and case manager all come from it: three separate arg_max calls broke a same-day
    -- tie differently from run to run and could mix two cases
    SELECT month, person_id, program, team, case_manager_id
    FROM (
        SELECT
            m.month, c.person_id, c.program, r.team, c.case_manager_id,
            row_number() OVER (PARTITION BY m.month, c.person_id ORDER BY c.open_date DESC, c.case_id DESC) AS latest
        FROM months AS m
        JOIN raw.cm_case AS c
            ON case_open_on(c.open_date, c.close_date, m.mid)
        LEFT JOIN raw.cm_roster AS r ON r.case_manager_id = c.case_manager_id
    ) AS ranked
    WHERE latest = 1
),
ed AS (
    SELECT CAST(date_trunc('month', encounter_start_date) AS DATE) AS month, person_id, count(*) AS n
    FROM raw.encounter
    WHERE encounter_type = 'emergency' AND encounter_start_date >= $first_month AND encounter_start_date < $end_month
    GROUP BY ALL
),
ip AS (
    SELECT CAST(date_trunc('month', admission_date) AS DATE) AS month, person_id, count(*) AS n
    FROM core.inpatient_stay WHERE admission_date >= $first_month AND admission_date < $end_month
    GROUP BY ALL
),
cost AS (
    SELECT month, person_id, sum(paid) AS paid FROM (
        SELECT CAST(date_trunc('month', claim_start_date) AS DATE) AS month, person_id, paid_amount AS paid
        FROM raw.medical_claim WHERE claim_start_date >= $first_month AND claim_start_date < $end_month
        UNION ALL
        SELECT CAST(date_trunc('month', dispensing_date) AS DATE), person_id, paid_amount FROM raw.pharmacy_claim
        WHERE dispensing_date >= $first_month AND dispensing_date < $end_month
    ) GROUP BY ALL
),
mm AS (
    SELECT
        mm.month,
        CASE WHEN c.person_id IS NOT NULL THEN 'in_case_management' ELSE 'not_in_case_management' END AS cohort,
        c.program, c.team, c.case_manager_id,
        coalesce(ed.n, 0) AS ed_visits, coalesce(ip.n, 0) AS admissions, coalesce(cost.paid, 0) AS paid
    FROM member_months AS mm
    LEFT JOIN in_cm AS c ON c.month = mm.month AND c.person_id = mm.person_id
    LEFT JOIN ed ON ed.month = mm.month AND ed.person_id = mm.person_id
    LEFT JOIN ip ON ip.month = mm.month AND ip.person_id = mm.person_id
    LEFT JOIN cost ON cost.month = mm.month AND cost.person_id = mm.person_id
),
agg AS (
    SELECT
        month, cohort,
        rollup_level(grouping(program), grouping(team), grouping(case_manager_id)) AS level,
        program, team, case_manager_id,
        CAST(count(*) AS BIGINT) AS member_months,
        CAST(sum(ed_visits) AS BIGINT) AS ed_visits,
        CAST(sum(admissions) AS BIGINT) AS admissions,
        sum(paid) AS paid_amount
    FROM mm
    GROUP BY GROUPING SETS (
        (month, cohort), (month, cohort, program), (month, cohort, program, team),
        (month, cohort, program, team, case_manager_id)
    )
)
SELECT
    month, cohort, level, program, team, case_manager_id, member_months, ed_visits, admissions,
    ed_visits * 1000.0 / member_months AS ed_visits_per_1000_mm,
    admissions * 1000.0 / member_months AS admissions_per_1000_mm,
    round(paid_amount, 2) AS paid_amount,
    round(paid_amount / member_months, 2) AS pmpm_paid_amount,
    CAST(coalesce((SELECT c.month_complete_flag FROM _month_complete AS c WHERE c.month = agg.month), 0) AS INTEGER)
        AS month_complete_flag,
    CAST($as_of AS DATE) AS as_of_date
FROM agg
WHERE cohort = 'in_case_management' OR level = 'all'
ORDER BY month, cohort, level, program NULLS FIRST, team NULLS FIRST, case_manager_id NULLS FIRST

-- marts.kpi_caseload_monthly
-- memory: grows with cases x 25 month-end snapshots of active case managers; the join is by
--   case manager (a few hundred), so no build side grows with members.
-- Grain: one row per snapshot_date x level (all / program / team / case_manager). snapshot_date is
-- the last day of each month from $start_month, or the day before $as_of for the current month.
-- active_cases: cases of active case managers (raw.cm_roster.active_flag = 1) open on the snapshot
--   date (open_date <= d, close_date null or > d); acuity_weighted_cases sums acuity_level (a missing
--   acuity counts 1) -- the weight the intake list uses when acuity is configured.
-- Guideline per case manager by setting: acute $acute_low-$acute_high, community
--   $community_low-$community_high active cases; within_guideline_managers counts managers whose
--   active_cases fall inside it, above_guideline_managers those above.
CREATE OR REPLACE TABLE marts.kpi_caseload_monthly AS
WITH snapshots AS (
    SELECT least(CAST(m + INTERVAL 1 MONTH - INTERVAL 1 DAY AS DATE), CAST($as_of AS DATE) - 1) AS snapshot_date
    FROM generate_series(CAST($start_month AS DATE), CAST($as_of AS DATE) - 1, INTERVAL 1 MONTH) AS t(m)
),
managers AS (
    SELECT
        r.*,
        CASE WHEN r.setting = 'acute' THEN $acute_low ELSE $community_low END AS guideline_low,
        CASE WHEN r.setting = 'acute' THEN $acute_high ELSE $community_high END AS guideline_high
    FROM raw.cm_roster AS r
    WHERE r.active_flag = 1
),
per_manager AS (
    SELECT
        s.snapshot_date, m.program, m.team, m.case_manager_id, m.capacity, m.guideline_low, m.guideline_high,
        count(c.case_id) AS active_cases,
        coalesce(sum(CASE WHEN c.case_id IS NOT NULL THEN coalesce(c.acuity_level, 1) END), 0) AS acuity_weighted_cases
    FROM snapshots AS s
    CROSS JOIN managers AS m
    LEFT JOIN raw.cm_case AS c
        ON c.case_manager_id = m.case_manager_id
       AND case_open_on(c.open_date, c.close_date, s.snapshot_date)
    GROUP BY ALL
)
SELECT
    snapshot_date,
    rollup_level(grouping(program), grouping(team), grouping(case_manager_id)) AS level,
    program, team, case_manager_id,
    CAST(count(*) AS BIGINT) AS case_managers,
    CAST(sum(active_cases) AS BIGINT) AS active_cases,
    CAST(sum(acuity_weighted_cases) AS BIGINT) AS acuity_weighted_cases,
    CAST(sum(capacity) AS BIGINT) AS capacity,
    CAST(sum(active_cases) AS DOUBLE) / count(*) AS caseload_per_manager,
    CAST(min(guideline_low) AS BIGINT) AS guideline_low,
    CAST(max(guideline_high) AS BIGINT) AS guideline_high,
    CAST(count(*) FILTER (WHERE active_cases BETWEEN guideline_low AND guideline_high) AS BIGINT) AS within_guideline_managers,
    CAST(count(*) FILTER (WHERE active_cases > guideline_high) AS BIGINT) AS above_guideline_managers,
    CAST($as_of AS DATE) AS as_of_date
FROM per_manager
GROUP BY GROUPING SETS (
    (snapshot_date),
    (snapshot_date, program),
    (snapshot_date, program, team),
    (snapshot_date, program, team, case_manager_id)
)
ORDER BY snapshot_date, level, program NULLS FIRST, team NULLS FIRST, case_manager_id NULLS FIRST

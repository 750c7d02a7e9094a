-- marts.kpi_case_closure_monthly
-- memory: grows with case-management cases (about 200k at 1M members), not members: one join with
--   the goals aggregated per case, one GROUP BY GROUPING SETS over few groups.
-- Grain: one row per close_month x level (all / program / team / case_manager): cases in
-- raw.cm_case closed before $as_of (close_date < $as_of), by the month they closed.
-- Case length: days from open_date to close_date over closed cases that were opened (median, mean).
-- Case resolution time: days from referral_date to close_date over cases closed with
--   close_reason 'goals_met' (median); resolved_cases counts them.
-- Goals achieved: numerator goals with status 'achieved', denominator goals set (raw.cm_goal) in the
--   closed, opened cases; exclusion: cases never opened.
-- Client satisfaction: responses = closed cases with a satisfaction_score (1-5); mean score and the
--   share answering 4 or 5; null when no survey responses are supplied.
CREATE OR REPLACE TABLE marts.kpi_case_closure_monthly AS
WITH cases AS (
    SELECT c.*, r.team
    FROM raw.cm_case AS c
    LEFT JOIN raw.cm_roster AS r ON r.case_manager_id = c.case_manager_id
    WHERE c.close_date IS NOT NULL AND c.close_date < $as_of
),
goals AS (
    SELECT
        g.case_id,
        count(*) AS goals_set,
        count(*) FILTER (WHERE g.status = 'achieved') AS goals_achieved
    FROM raw.cm_goal AS g
    GROUP BY g.case_id
),
closed AS (
    SELECT c.*, coalesce(g.goals_set, 0) AS goals_set, coalesce(g.goals_achieved, 0) AS goals_achieved
    FROM cases AS c
    LEFT JOIN goals AS g ON g.case_id = c.case_id
)
SELECT
    CAST(date_trunc('month', close_date) AS DATE) AS close_month,
    rollup_level(grouping(program), grouping(team), grouping(case_manager_id)) AS level,
    program, team, case_manager_id,
    CAST(count(*) AS BIGINT) AS closed_cases,
    CAST(count(open_date) AS BIGINT) AS closed_engaged_cases,
    median(date_diff('day', open_date, close_date)) AS case_length_days_median,
    avg(date_diff('day', open_date, close_date)) AS case_length_days_mean,
    CAST(count(*) FILTER (WHERE close_reason = 'goals_met') AS BIGINT) AS resolved_cases,
    median(date_diff('day', referral_date, close_date)) FILTER (WHERE close_reason = 'goals_met') AS resolution_days_median,
    CAST(sum(goals_set) FILTER (WHERE open_date IS NOT NULL) AS BIGINT) AS goals_set,
    CAST(sum(goals_achieved) FILTER (WHERE open_date IS NOT NULL) AS BIGINT) AS goals_achieved,
    CAST(sum(goals_achieved) FILTER (WHERE open_date IS NOT NULL) AS DOUBLE)
        / nullif(sum(goals_set) FILTER (WHERE open_date IS NOT NULL), 0) AS goals_achieved_rate,
    CAST(count(satisfaction_score) AS BIGINT) AS satisfaction_responses,
    avg(satisfaction_score) AS satisfaction_mean,
    CAST(count(*) FILTER (WHERE satisfaction_score >= 4) AS DOUBLE) / nullif(count(satisfaction_score), 0)
        AS satisfied_share,
    CAST($as_of AS DATE) AS as_of_date
FROM closed
GROUP BY GROUPING SETS (
    (close_month),
    (close_month, program),
    (close_month, program, team),
    (close_month, program, team, case_manager_id)
)
ORDER BY close_month, level, program NULLS FIRST, team NULLS FIRST, case_manager_id NULLS FIRST

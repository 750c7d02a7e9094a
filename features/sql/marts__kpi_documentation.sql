-- marts.kpi_documentation
-- memory: cases open on the as-of date only; goals and notes checked per case.
-- Grain: one row per level (all / program / team / case_manager) on $as_of (a snapshot).
-- Documentation completeness: denominator cases open on $as_of (open_date <= $as_of, close_date
--   null or later) that were opened at least $grace_days days before $as_of (exclusion: newer cases,
--   still inside the time allowed to assess); numerator those with all four: an assessment_date, a
--   care_plan_date, at least one goal in raw.cm_goal, and a contact with note_flag = 1 in the
--   $note_days days before $as_of. Each part is also counted on its own.
CREATE OR REPLACE TABLE marts.kpi_documentation AS
WITH open_cases AS (
    SELECT c.*, r.team
    FROM raw.cm_case AS c
    LEFT JOIN raw.cm_roster AS r ON r.case_manager_id = c.case_manager_id
    WHERE c.open_date IS NOT NULL
      AND c.open_date <= CAST($as_of AS DATE) - CAST($grace_days AS INTEGER)
      AND (c.close_date IS NULL OR c.close_date > $as_of)
),
parts AS (
    SELECT
        o.program, o.team, o.case_manager_id,
        CAST(o.assessment_date IS NOT NULL AND o.assessment_date <= $as_of AS INTEGER) AS has_assessment,
        CAST(o.care_plan_date IS NOT NULL AND o.care_plan_date <= $as_of AS INTEGER) AS has_care_plan,
        CAST(EXISTS (SELECT 1 FROM raw.cm_goal AS g WHERE g.case_id = o.case_id AND g.set_date <= $as_of) AS INTEGER)
            AS has_goal,
        CAST(EXISTS (
            SELECT 1 FROM raw.cm_contact AS t
            WHERE t.case_id = o.case_id AND t.note_flag = 1
              AND t.contact_date < $as_of AND t.contact_date >= CAST($as_of AS DATE) - CAST($note_days AS INTEGER)
        ) AS INTEGER) AS has_recent_note
    FROM open_cases AS o
)
SELECT * FROM (
    SELECT
        rollup_level(grouping(program), grouping(team), grouping(case_manager_id)) AS level,
        program, team, case_manager_id,
        CAST(count(*) AS BIGINT) AS open_cases,
        CAST(sum(has_assessment) AS BIGINT) AS with_assessment,
        CAST(sum(has_care_plan) AS BIGINT) AS with_care_plan,
        CAST(sum(has_goal) AS BIGINT) AS with_goal,
        CAST(sum(has_recent_note) AS BIGINT) AS with_recent_note,
        CAST(count(*) FILTER (WHERE has_assessment + has_care_plan + has_goal + has_recent_note = 4) AS BIGINT)
            AS complete_cases,
        CAST(count(*) FILTER (WHERE has_assessment + has_care_plan + has_goal + has_recent_note = 4) AS DOUBLE)
            / nullif(count(*), 0) AS documentation_completeness_rate,
        CAST($as_of AS DATE) AS as_of_date
    FROM parts
    GROUP BY GROUPING SETS ((program), (program, team), (program, team, case_manager_id))
    UNION ALL
    -- the whole program as its own aggregate, without GROUP BY: one row even when no case is open.
    -- (GROUPING SETS with () gives that row over no rows on DuckDB but not on Spark.)
    SELECT
        'all', CAST(NULL AS VARCHAR), CAST(NULL AS VARCHAR), CAST(NULL AS VARCHAR),
        CAST(count(*) AS BIGINT),
        CAST(sum(has_assessment) AS BIGINT),
        CAST(sum(has_care_plan) AS BIGINT),
        CAST(sum(has_goal) AS BIGINT),
        CAST(sum(has_recent_note) AS BIGINT),
        CAST(count(*) FILTER (WHERE has_assessment + has_care_plan + has_goal + has_recent_note = 4) AS BIGINT),
        CAST(count(*) FILTER (WHERE has_assessment + has_care_plan + has_goal + has_recent_note = 4) AS DOUBLE)
            / nullif(count(*), 0),
        CAST($as_of AS DATE)
    FROM parts
)
ORDER BY level, program NULLS FIRST, team NULLS FIRST, case_manager_id NULLS FIRST
